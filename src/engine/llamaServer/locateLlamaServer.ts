import { constants } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { resolveNodeLlamaCppDir } from "../../hardware/findLlamaBinary.js";
import { parseCpuInfo } from "../../hardware/parseCpuInfo.js";
import type { GpuBackend } from "../../hardware/types.js";

export const LLAMA_SERVER_BINARY = "llama-server";
/** Written last by `mentator engine build`: a cache folder without it is an interrupted build. */
export const ENGINE_BUILD_INFO_FILE = "build.json";

/** Where llama-server binaries are looked for. */
export interface EngineDirs {
    /** Prebuilt engines, `<engineDir>/<backend>/llama-server` (MENTATOR_ENGINE_DIR, the Docker image). */
    engineDir?: string;
    /** `mentator engine build` output, `<cacheDir>/<release>/<backend>/llama-server`. */
    cacheDir: string;
}

export interface LlamaServerLocation {
    found: boolean;
    /** Absolute path of the llama-server binary. */
    path?: string;
    source?: "engineDir" | "cache";
    backend: GpuBackend;
    /** llama.cpp release the binary must come from (node-llama-cpp's). */
    release: string;
    /** What was found, or where it was looked for. */
    reason: string;
}

/** The config values that locate engines; relative paths are taken from the data directory. */
export function engineDirsOf(config: { dataDir: string; engineDir: string; engineCache: string }): EngineDirs {
    return {
        engineDir: config.engineDir !== "" ? path.resolve(config.dataDir, config.engineDir) : undefined,
        cacheDir: path.resolve(config.dataDir, config.engineCache !== "" ? config.engineCache : "engines")
    };
}

/**
 * The llama.cpp release node-llama-cpp ships as source (`llama/llama.cpp.info.json`, else the release of
 * its prebuilt binaries). Engines are cached under this name so an upgrade of node-llama-cpp never runs a
 * llama-server built from other sources.
 */
export async function readLlamaCppRelease(packageDir?: string): Promise<string> {
    const dir = packageDir ?? (await resolveNodeLlamaCppDir());
    if (dir == null) throw new Error("node-llama-cpp is not installed, so its llama.cpp release is unknown");
    for (const [file, key] of [["llama.cpp.info.json", "tag"], ["binariesGithubRelease.json", "release"]] as const) {
        try {
            const json = JSON.parse(await fs.readFile(path.join(dir, "llama", file), "utf8")) as Record<string, unknown>;
            const value = json[key];
            if (typeof value === "string" && /^[\w.-]+$/.test(value)) return value;
        } catch {
            // try the next file
        }
    }
    throw new Error(`cannot read the llama.cpp release from ${path.join(dir, "llama")}`);
}

/** The cache folder `mentator engine build` writes for a release and backend. */
export function engineCacheFolder(cacheDir: string, release: string, backend: GpuBackend): string {
    return path.join(cacheDir, release, backend);
}

/** SIMD flags of this machine's CPU (empty when unknown). */
export async function readHostSimd(): Promise<string[]> {
    try {
        return parseCpuInfo(await fs.readFile("/proc/cpuinfo", "utf8")).simd;
    } catch {
        return [];
    }
}

/**
 * Finds the llama-server binary for a backend: the prebuilt engine folder first (MENTATOR_ENGINE_DIR), then
 * the build cache for node-llama-cpp's llama.cpp release. A cached build is tuned to the CPU it was built on
 * (GGML_NATIVE); one from a CPU with SIMD features this one lacks would crash, so it does not count.
 * Never throws; `reason` says where it looked.
 */
export async function locateLlamaServer(backend: GpuBackend, dirs: EngineDirs, release: string, hostSimd?: string[]): Promise<LlamaServerLocation> {
    const looked: string[] = [];
    if (dirs.engineDir !== undefined) {
        const candidate = path.join(dirs.engineDir, backend, LLAMA_SERVER_BINARY);
        if (await isExecutable(candidate)) {
            return { found: true, path: candidate, source: "engineDir", backend, release, reason: `prebuilt ${candidate}` };
        }
        looked.push(candidate);
    }
    const folder = engineCacheFolder(dirs.cacheDir, release, backend);
    const candidate = path.join(folder, LLAMA_SERVER_BINARY);
    if ((await isExecutable(candidate)) && (await exists(path.join(folder, ENGINE_BUILD_INFO_FILE)))) {
        const built = await readBuildSimd(path.join(folder, ENGINE_BUILD_INFO_FILE));
        const host = hostSimd ?? (await readHostSimd());
        const lacking = host.length > 0 ? built.filter((flag) => !host.includes(flag)) : [];
        if (lacking.length === 0) return { found: true, path: candidate, source: "cache", backend, release, reason: `built ${candidate}` };
        return {
            found: false,
            backend,
            release,
            reason: `${candidate} was built for a CPU with ${lacking.join(" ")}, which this one lacks; rebuild it with "mentator engine build --gpu ${backend} --force"`
        };
    }
    looked.push(candidate);
    return {
        found: false,
        backend,
        release,
        reason: `no llama-server for ${backend} (looked for ${looked.join(", ")}); build it with "mentator engine build --gpu ${backend}"`
    };
}

async function readBuildSimd(file: string): Promise<string[]> {
    try {
        const info = JSON.parse(await fs.readFile(file, "utf8")) as { simd?: unknown };
        return Array.isArray(info.simd) ? info.simd.filter((flag): flag is string => typeof flag === "string") : [];
    } catch {
        return [];
    }
}

async function isExecutable(file: string): Promise<boolean> {
    try {
        await fs.access(file, constants.X_OK);
        return (await fs.stat(file)).isFile();
    } catch {
        return false;
    }
}

async function exists(file: string): Promise<boolean> {
    return fs.access(file).then(() => true, () => false);
}
