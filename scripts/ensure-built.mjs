// Builds distjs/ when it is missing or older than any source file (or always with --force).
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const entry = join(root, "distjs", "index.js");

function newestMtime(dir) {
    let newest = 0;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
    }
    return newest;
}

const force = process.argv.includes("--force");
const stale = !existsSync(entry) || statSync(entry).mtimeMs < newestMtime(join(root, "src"));
if (force || stale) {
    execFileSync("npm", ["run", "--silent", "buildjs"], { cwd: root, stdio: "inherit" });
}
