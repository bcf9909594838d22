import type { GpuBackend, LlamaBinaryInfo, SharedLibrary } from "./types.js";

export interface CommandResult {
    /** Exit code; null when the command was killed (timeout or signal). */
    code: number | null;
    stdout: string;
    stderr: string;
    timedOut: boolean;
}

export interface OsFacts {
    platform: string;
    arch: string;
    release: string;
    /** Model string of the first CPU as the OS reports it. */
    cpuModel: string;
    /** Logical CPUs this process may use. */
    logicalCpus: number;
    totalMemoryBytes: number;
    freeMemoryBytes: number;
}

/**
 * Everything hardware detection reads from the system, so tests can run the detection logic with fakes
 * and the real implementation stays a thin layer.
 */
export interface HardwareProbes {
    /** Runs a command found on PATH; null when there is no such command. Never throws for a failing command. */
    runCommand(command: string, args: string[], timeoutMs: number): Promise<CommandResult | null>;
    fileExists(path: string): Promise<boolean>;
    /** File contents as text; null when it cannot be read. */
    readFile(path: string): Promise<string | null>;
    /** Entry names of a directory; empty when it cannot be read. */
    readDir(path: string): Promise<string[]>;
    /**
     * Looks for shared libraries by soname: LD_LIBRARY_PATH, the ld.so cache (`ldconfig -p`), then
     * well-known install directories (CUDA, ROCm, distro lib dirs). Returns the ones found, by name.
     */
    findSharedLibraries(names: readonly string[]): Promise<Map<string, SharedLibrary>>;
    /** Whether node-llama-cpp has a binary (prebuilt package or local build) it could load for a backend. */
    findLlamaBinary(backend: GpuBackend): Promise<LlamaBinaryInfo>;
    os(): OsFacts;
    /** An environment variable (VK_ICD_FILENAMES, CUDA_VISIBLE_DEVICES, ...). */
    env(name: string): string | undefined;
}

export { createSystemProbes, systemProbes, type SystemProbesOptions } from "./systemProbes.js";
