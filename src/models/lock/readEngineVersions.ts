import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { packageInfo } from "../../util/packageInfo.js";

/** Versions recorded in the lock's `engine` block: node-llama-cpp and the llama.cpp release it bundles. */
export function readEngineVersions(): Record<string, string> {
    const versions: Record<string, string> = {};
    const pinned = packageInfo().dependencies?.["node-llama-cpp"];
    if (pinned !== undefined) versions["node-llama-cpp"] = pinned;
    try {
        // node_modules/node-llama-cpp/dist/index.js -> node_modules/node-llama-cpp/llama/llama.cpp.info.json
        const entry = fileURLToPath(import.meta.resolve("node-llama-cpp"));
        const info = JSON.parse(readFileSync(join(dirname(entry), "..", "llama", "llama.cpp.info.json"), "utf8")) as { tag?: unknown };
        if (typeof info.tag === "string") versions["llama.cpp"] = info.tag;
    } catch {
        // not installed the usual way: record what we know
    }
    return versions;
}
