// Builds the CPU llama-server used by the llama-server engine tests, once per machine: the build is cached
// outside the checkout (MENTATOR_ENGINE_CACHE, default ~/.cache/mentator/engines), keyed by llama.cpp release
// and backend, so this is a one-second cache hit after the first run (which takes ~10 minutes on 2 cores).
import { execFileSync } from "node:child_process";
import { homedir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const cache = process.env.MENTATOR_ENGINE_CACHE || join(homedir(), ".cache", "mentator", "engines");
execFileSync(process.execPath, [join(root, "distjs", "index.js"), "engine", "build", "--gpu", "cpu"], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, MENTATOR_ENGINE_CACHE: cache }
});
