import { spawn } from "node:child_process";
import { constants } from "node:fs";
import fs from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import type { GpuBackend } from "../../hardware/types.js";
import { acquireLockFile } from "../../util/acquireLockFile.js";
import { EngineBuildError } from "./EngineBuildError.js";
import { ENGINE_BUILD_INFO_FILE, engineCacheFolder, LLAMA_SERVER_BINARY, locateLlamaServer, readHostSimd } from "./locateLlamaServer.js";

export interface BuildLlamaServerOptions {
    backend: GpuBackend;
    /** Engine cache root; the result goes to `<cacheDir>/<release>/<backend>/`. */
    cacheDir: string;
    /** node-llama-cpp's package directory (its `llama/gitRelease.bundle` and `llama/patches/` are the source). */
    nodeLlamaCppDir: string;
    /** llama.cpp release of that source: the cache key. */
    release: string;
    /** Parallel compile jobs. Default: the CPU count. */
    jobs?: number;
    /** Build again even when the cache holds this release and backend. Default false. */
    force?: boolean;
    /** `CMAKE_CUDA_ARCHITECTURES` (e.g. "90" or "86;90"). Default: the GPUs of this machine (GGML_NATIVE). */
    cudaArchitectures?: string;
    /** `AMDGPU_TARGETS` for ROCm (e.g. "gfx90a;gfx1100"). Default: llama.cpp's. */
    amdgpuTargets?: string;
    /** Keep the extracted source and the CMake build folder (faster rebuilds, ~1 GB). Default false. */
    keepBuildDir?: boolean;
    /** Receives the tools' output, one line at a time. */
    onOutput?: (line: string) => void;
    signal?: AbortSignal;
}

export interface BuildLlamaServerResult {
    /** Absolute path of the built llama-server. */
    binary: string;
    folder: string;
    /** True when the cache already had it and nothing was built. */
    cached: boolean;
    seconds: number;
}

/** What `build.json` in an engine folder records. */
export interface EngineBuildInfo {
    release: string;
    backend: GpuBackend;
    cmakeArgs: string[];
    /** SIMD flags of the CPU it was built on (GGML_NATIVE uses them all). */
    simd: string[];
    builtAt: string;
    seconds: number;
}

/**
 * CMake options of the llama-server build. The same source and options as docker/build-llama.sh, except
 * that only llama-server is built (static, no addon) and the code is tuned for this machine (GGML_NATIVE):
 * the binary is built where it runs. No network: no UI download, no TLS, no curl.
 */
export function llamaServerCmakeArgs(options: Pick<BuildLlamaServerOptions, "backend" | "cudaArchitectures" | "amdgpuTargets">): string[] {
    const args = [
        "-DCMAKE_BUILD_TYPE=Release",
        "-DBUILD_SHARED_LIBS=OFF",
        "-DGGML_NATIVE=ON",
        "-DGGML_OPENMP=OFF",
        "-DGGML_CCACHE=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_APP=OFF",
        "-DLLAMA_BUILD_TOOLS=ON",
        "-DLLAMA_BUILD_SERVER=ON",
        "-DLLAMA_BUILD_UI=OFF",
        "-DLLAMA_USE_PREBUILT_UI=OFF",
        "-DLLAMA_OPENSSL=OFF",
        "-DLLAMA_BUILD_BORINGSSL=OFF"
    ];
    switch (options.backend) {
        case "cuda":
            args.push("-DGGML_CUDA=ON");
            if (options.cudaArchitectures !== undefined) args.push(`-DCMAKE_CUDA_ARCHITECTURES=${options.cudaArchitectures}`);
            break;
        case "rocm":
            args.push("-DGGML_HIP=ON");
            if (options.amdgpuTargets !== undefined) args.push(`-DAMDGPU_TARGETS=${options.amdgpuTargets}`, `-DGPU_TARGETS=${options.amdgpuTargets}`);
            break;
        case "vulkan":
            args.push("-DGGML_VULKAN=ON");
            break;
        case "cpu":
            break;
    }
    return args;
}

/**
 * Builds llama-server from the llama.cpp source node-llama-cpp ships, offline, into the engine cache
 * (`<cacheDir>/<release>/<backend>/llama-server` + build.json, written last so an interrupted build never
 * counts). A cache hit returns at once. Throws EngineBuildError naming the missing tool or failing step.
 */
export async function buildLlamaServer(options: BuildLlamaServerOptions): Promise<BuildLlamaServerResult> {
    const started = performance.now();
    const folder = engineCacheFolder(options.cacheDir, options.release, options.backend);
    const binary = path.join(folder, LLAMA_SERVER_BINARY);
    if (options.force !== true && (await locateLlamaServer(options.backend, { cacheDir: options.cacheDir }, options.release)).found) {
        return { binary, folder, cached: true, seconds: 0 };
    }
    const releaseDir = path.join(options.cacheDir, options.release);
    await fs.mkdir(releaseDir, { recursive: true });
    const lockFile = path.join(releaseDir, `.lock-${options.backend}`);
    const unlock = acquireLockFile(lockFile, (holder) => new EngineBuildError(`another build of this engine is running (pid ${holder.pid ?? "?"}, lock ${lockFile})`));
    try {
        await requireTool("cmake", ["--version"], "cmake is needed to build llama-server (Debian/Ubuntu: apt-get install cmake)");
        await requireTool("git", ["--version"], "git is needed to unpack node-llama-cpp's llama.cpp source bundle (apt-get install git)");
        const sourceDir = await prepareSource(releaseDir, options);
        const buildDir = path.join(releaseDir, `.build-${options.backend}`);
        const cmakeArgs = llamaServerCmakeArgs(options);
        const generator = (await hasTool("ninja", ["--version"])) ? ["-G", "Ninja"] : [];
        // A cache folder from another generator cannot be reused.
        if (!(await sameGenerator(buildDir, generator.length > 0 ? "Ninja" : undefined))) await fs.rm(buildDir, { recursive: true, force: true });
        await run("cmake", ["-S", sourceDir, "-B", buildDir, ...generator, ...cmakeArgs], "configure", options);
        const jobs = options.jobs ?? availableParallelism();
        await run("cmake", ["--build", buildDir, "-j", String(jobs), "--target", LLAMA_SERVER_BINARY], "build", options);

        const built = path.join(buildDir, "bin", LLAMA_SERVER_BINARY);
        if (!(await isExecutable(built))) throw new EngineBuildError(`the build finished but ${built} is missing`);
        const staging = `${folder}.tmp-${process.pid}`;
        await fs.rm(staging, { recursive: true, force: true });
        await fs.mkdir(staging, { recursive: true });
        await fs.copyFile(built, path.join(staging, LLAMA_SERVER_BINARY));
        await fs.chmod(path.join(staging, LLAMA_SERVER_BINARY), 0o755);
        for (const name of await fs.readdir(path.join(buildDir, "bin"))) {
            // Shared libraries, should a backend build any, travel with the binary (the engine adds its folder to LD_LIBRARY_PATH).
            if (/\.so(\.\d+)*$/.test(name)) await fs.copyFile(path.join(buildDir, "bin", name), path.join(staging, name));
        }
        const seconds = (performance.now() - started) / 1000;
        const info: EngineBuildInfo = {
            release: options.release,
            backend: options.backend,
            cmakeArgs,
            simd: await readHostSimd(),
            builtAt: new Date().toISOString(),
            seconds: Math.round(seconds)
        };
        await fs.writeFile(path.join(staging, ENGINE_BUILD_INFO_FILE), `${JSON.stringify(info, null, 2)}\n`);
        await fs.rm(folder, { recursive: true, force: true });
        await fs.rename(staging, folder);
        if (options.keepBuildDir !== true) {
            await fs.rm(buildDir, { recursive: true, force: true });
            await fs.rm(sourceDir, { recursive: true, force: true });
        }
        return { binary, folder, cached: false, seconds };
    } finally {
        unlock();
    }
}

/** Unpacks the source bundle once per release (git clone of the bundle, then node-llama-cpp's patches). */
async function prepareSource(releaseDir: string, options: BuildLlamaServerOptions): Promise<string> {
    const sourceDir = path.join(releaseDir, ".src");
    if (await exists(path.join(sourceDir, "CMakeLists.txt"))) return sourceDir;
    const llamaDir = path.join(options.nodeLlamaCppDir, "llama");
    const bundle = path.join(llamaDir, "gitRelease.bundle");
    if (!(await exists(bundle))) {
        throw new EngineBuildError(`${bundle} not found: this node-llama-cpp install has no llama.cpp source bundle`);
    }
    const staging = `${sourceDir}.tmp-${process.pid}`;
    await fs.rm(staging, { recursive: true, force: true });
    options.onOutput?.(`unpacking llama.cpp ${options.release} from ${bundle}`);
    await run("git", ["-c", "advice.detachedHead=false", "clone", "--quiet", bundle, staging], "unpack the source", options);
    const patchesDir = path.join(llamaDir, "patches");
    const patches = (await fs.readdir(patchesDir).catch(() => [] as string[])).filter((name) => name.endsWith(".diff")).sort();
    for (const patch of patches) {
        await run("git", ["-C", staging, "apply", path.join(patchesDir, patch)], `apply ${patch}`, options);
        options.onOutput?.(`applied ${patch}`);
    }
    await fs.rm(sourceDir, { recursive: true, force: true });
    await fs.rename(staging, sourceDir);
    return sourceDir;
}

async function sameGenerator(buildDir: string, generator: string | undefined): Promise<boolean> {
    const cache = await fs.readFile(path.join(buildDir, "CMakeCache.txt"), "utf8").catch(() => undefined);
    if (cache === undefined) return true;
    const match = /^CMAKE_GENERATOR:INTERNAL=(.*)$/m.exec(cache);
    return (match?.[1] ?? "") === (generator ?? "Unix Makefiles");
}

async function hasTool(command: string, args: string[]): Promise<boolean> {
    return new Promise((resolve) => {
        const child = spawn(command, args, { stdio: "ignore" });
        child.once("error", () => resolve(false));
        child.once("exit", (code) => resolve(code === 0));
    });
}

async function requireTool(command: string, args: string[], hint: string): Promise<void> {
    if (!(await hasTool(command, args))) throw new EngineBuildError(`${command} not found on PATH: ${hint}`);
}

/** Runs a tool, passing its output on line by line; a non-zero exit is an EngineBuildError with the last lines. */
function run(command: string, args: string[], step: string, options: Pick<BuildLlamaServerOptions, "onOutput" | "signal">): Promise<void> {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], signal: options.signal });
        const tail: string[] = [];
        for (const stream of [child.stdout, child.stderr]) {
            let partial = "";
            stream.setEncoding("utf8");
            stream.on("data", (chunk: string) => {
                const lines = (partial + chunk).split("\n");
                partial = lines.pop() ?? "";
                for (const line of lines) {
                    tail.push(line);
                    if (tail.length > 30) tail.shift();
                    options.onOutput?.(line);
                }
            });
        }
        child.once("error", (error) => reject(new EngineBuildError(`${step} failed: ${command}: ${error.message}`)));
        child.once("exit", (code, signal) => {
            if (code === 0) return resolve();
            const why = signal !== null ? `killed by ${signal}` : `exit code ${code ?? "?"}`;
            reject(new EngineBuildError(`${step} failed (${command} ${why}):\n${tail.join("\n")}`));
        });
    });
}

async function isExecutable(file: string): Promise<boolean> {
    return fs.access(file, constants.X_OK).then(() => true, () => false);
}

async function exists(file: string): Promise<boolean> {
    return fs.access(file).then(() => true, () => false);
}
