import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { engineCacheFolder, readLlamaCppRelease } from "../../src/engine/llamaServer/locateLlamaServer.js";

/**
 * The engine cache the llama-server tests use: `$MENTATOR_ENGINE_CACHE`, else `~/.cache/mentator/engines`
 * (outside the clone, so a build survives checkouts). `.ci/run` fills it before `npm test` with
 * `node distjs/index.js engine build --gpu cpu` (about 10-20 minutes on 2 cores, once per llama.cpp release).
 */
export function testEngineCacheDir(): string {
    const configured = process.env.MENTATOR_ENGINE_CACHE;
    return configured !== undefined && configured !== "" ? path.resolve(configured) : path.join(os.homedir(), ".cache", "mentator", "engines");
}

/** The cached CPU llama-server, or an error that says how to build it. */
export async function requireCpuLlamaServer(): Promise<{ cacheDir: string; binary: string; release: string }> {
    const cacheDir = testEngineCacheDir();
    const release = await readLlamaCppRelease();
    const binary = path.join(engineCacheFolder(cacheDir, release, "cpu"), "llama-server");
    if (!fs.existsSync(binary)) {
        throw new Error(
            `no llama-server build at ${binary}; build it once with:\n` +
                `  npm run buildjs && MENTATOR_ENGINE_CACHE=${cacheDir} node distjs/index.js engine build --gpu cpu`
        );
    }
    return { cacheDir, binary, release };
}

/** Pids of the direct children of a process (Linux /proc). */
export function childPids(pid: number): number[] {
    const pids: number[] = [];
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
        const text = fs.readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
        if (text !== "") pids.push(...text.split(/\s+/).map(Number));
    }
    return pids;
}

/** The llama-server processes a server runs, with their command lines. */
export function llamaServerChildren(pid: number): Array<{ pid: number; args: string[] }> {
    return childPids(pid)
        .map((child) => {
            try {
                return { pid: child, args: fs.readFileSync(`/proc/${child}/cmdline`, "utf8").split("\0").filter((arg) => arg !== "") };
            } catch {
                return undefined;
            }
        })
        .filter((entry): entry is { pid: number; args: string[] } => entry !== undefined && path.basename(entry.args[0] ?? "") === "llama-server");
}
