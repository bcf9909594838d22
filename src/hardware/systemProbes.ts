import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import type { CommandResult, HardwareProbes, OsFacts } from "./HardwareProbes.js";
import { findLlamaBinary, type FindLlamaBinaryOptions } from "./findLlamaBinary.js";
import { parseLdconfigCache } from "./parseLdconfigCache.js";
import type { SharedLibrary } from "./types.js";

export interface SystemProbesOptions {
    /**
     * Environment for PATH / LD_LIBRARY_PATH / CUDA_PATH lookups and child processes.
     * Default: process.env, read at each call (so a PATH changed at run time is honoured).
     */
    env?: NodeJS.ProcessEnv;
    /** Where to look for node-llama-cpp binaries. Default: the installed node-llama-cpp. */
    llamaBinaries?: FindLlamaBinaryOptions;
}

const maxOutputBytes = 4 * 1024 * 1024;
const archTriplet = process.arch === "arm64" ? "aarch64" : "x86_64";
/** Directories ld.so searches even for libraries missing from its cache (`ld.so --help`: system search path). */
const systemLibraryDirs = [`/lib/${archTriplet}-linux-gnu`, `/usr/lib/${archTriplet}-linux-gnu`, "/lib64", "/usr/lib64", "/lib", "/usr/lib"];
const ldconfigCommands = ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"];

/** The real probes: child processes, the file system and `os`. */
export function createSystemProbes(options: SystemProbesOptions = {}): HardwareProbes {
    const getEnv = (): NodeJS.ProcessEnv => options.env ?? process.env;

    const probes: HardwareProbes = {
        runCommand: (command, args, timeoutMs) => runCommand(command, args, timeoutMs, getEnv()),
        fileExists: async (file) => {
            try {
                await fs.access(file);
                return true;
            } catch {
                return false;
            }
        },
        readFile: async (file) => {
            try {
                return await fs.readFile(file, "utf8");
            } catch {
                return null;
            }
        },
        readDir: async (dir) => {
            try {
                return await fs.readdir(dir);
            } catch {
                return [];
            }
        },
        findSharedLibraries: async (names) => await findSharedLibraries(probes, names, getEnv()),
        findLlamaBinary: async (backend) => await findLlamaBinary(backend, options.llamaBinaries),
        os: (): OsFacts => ({
            platform: process.platform,
            arch: process.arch,
            release: os.release(),
            cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
            logicalCpus: os.availableParallelism(),
            totalMemoryBytes: os.totalmem(),
            freeMemoryBytes: os.freemem()
        }),
        env: (name) => getEnv()[name]
    };
    return probes;
}

export const systemProbes: HardwareProbes = createSystemProbes();

function runCommand(command: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv): Promise<CommandResult | null> {
    return new Promise((resolve) => {
        execFile(command, args, { timeout: timeoutMs, env, maxBuffer: maxOutputBytes, encoding: "utf8" }, (error, stdout, stderr) => {
            if (error == null) {
                resolve({ code: 0, stdout, stderr, timedOut: false });
                return;
            }
            const errorCode = (error as NodeJS.ErrnoException).code;
            if (errorCode === "ENOENT") {
                resolve(null);
                return;
            }
            if (typeof errorCode === "string") {
                // Spawn failed (EACCES, ...): report it like a shell would, as a failed command.
                resolve({ code: 126, stdout: "", stderr: error.message, timedOut: false });
                return;
            }
            resolve({
                code: typeof error.code === "number" ? error.code : null,
                stdout,
                stderr,
                timedOut: error.killed === true && error.signal === "SIGTERM"
            });
        });
    });
}

async function findSharedLibraries(probes: HardwareProbes, names: readonly string[], env: NodeJS.ProcessEnv): Promise<Map<string, SharedLibrary>> {
    const found = new Map<string, SharedLibrary>();
    const remaining = (): string[] => names.filter((name) => !found.has(name));

    // Loadable, in ld.so's order: LD_LIBRARY_PATH, its cache, the system search path.
    await searchDirs(probes, splitPathList(env.LD_LIBRARY_PATH), remaining(), true, found);
    if (remaining().length > 0) {
        const cache = await readLdconfigCache(probes);
        for (const name of remaining()) {
            const libraryPath = cache.get(name);
            if (libraryPath != null)
                found.set(name, { name, path: libraryPath, onLoaderPath: true });
        }
    }
    if (remaining().length > 0)
        await searchDirs(probes, systemLibraryDirs, remaining(), true, found);

    // Install directories the loader does not know about: found, but not loadable as things stand.
    if (remaining().length > 0)
        await searchDirs(probes, await wellKnownLibraryDirs(probes, env), remaining(), false, found);
    return found;
}

async function searchDirs(probes: HardwareProbes, dirs: string[], names: string[], onLoaderPath: boolean, found: Map<string, SharedLibrary>): Promise<void> {
    for (const dir of dirs) {
        for (const name of names) {
            if (found.has(name))
                continue;
            const candidate = path.join(dir, name);
            if (await probes.fileExists(candidate))
                found.set(name, { name, path: candidate, onLoaderPath });
        }
    }
}

async function readLdconfigCache(probes: HardwareProbes): Promise<Map<string, string>> {
    for (const command of ldconfigCommands) {
        const result = await probes.runCommand(command, ["-p"], 5000);
        if (result != null && result.code === 0)
            return parseLdconfigCache(result.stdout, process.arch);
    }
    return new Map();
}

async function wellKnownLibraryDirs(probes: HardwareProbes, env: NodeJS.ProcessEnv): Promise<string[]> {
    const cudaRoots = [env.CUDA_PATH, env.CUDA_HOME, "/usr/local/cuda"].filter((root): root is string => root != null && root !== "");
    const usrLocal = (await probes.readDir("/usr/local")).filter((name) => name.startsWith("cuda-")).sort().reverse();
    cudaRoots.push(...usrLocal.map((name) => path.join("/usr/local", name)));
    const rocmRoots = [env.ROCM_PATH, "/opt/rocm"].filter((root): root is string => root != null && root !== "");
    rocmRoots.push(...(await probes.readDir("/opt")).filter((name) => name.startsWith("rocm-")).sort().reverse().map((name) => path.join("/opt", name)));

    return [
        ...cudaRoots.flatMap((root) => [path.join(root, "lib64"), path.join(root, "lib"), path.join(root, "targets", `${archTriplet}-linux`, "lib")]),
        ...rocmRoots.flatMap((root) => [path.join(root, "lib"), path.join(root, "lib64")]),
        "/usr/lib/wsl/lib",
        "/usr/local/lib"
    ];
}

function splitPathList(value: string | undefined): string[] {
    return (value ?? "").split(path.delimiter).filter((dir) => dir !== "");
}
