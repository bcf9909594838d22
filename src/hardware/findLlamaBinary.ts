import { createRequire } from "node:module";
import fs from "node:fs/promises";
import path from "node:path";
import process from "node:process";
import type { GpuBackend, LlamaBinaryInfo } from "./types.js";

export interface FindLlamaBinaryOptions {
    /** node-llama-cpp's package directory. Default: resolved from this module. */
    packageDir?: string;
    /** Default: process.platform. */
    platform?: NodeJS.Platform;
    /** Default: process.arch. */
    arch?: string;
}

/** The command that produces the ROCm build node-llama-cpp 3.x does not ship. */
export const rocmBuildHint = "NODE_LLAMA_CPP_CMAKE_OPTION_GGML_HIP=ON npx --no node-llama-cpp source build --gpu false";

const hipCmakeOptionNames = ["GGML_HIP", "GGML_HIPBLAS", "LLAMA_HIPBLAS"];
const gpuCmakeOptionNames = [...hipCmakeOptionNames, "GGML_CUDA", "GGML_VULKAN", "GGML_METAL", "GGML_MUSA", "GGML_SYCL"];
const cudaHeadBytes = 4 * 1024 * 1024;

interface BuildMetadata {
    buildOptions?: {
        gpu?: string | false;
        platform?: string;
        arch?: string;
        customCmakeOptions?: Record<string, string>;
    };
}

/**
 * Finds the node-llama-cpp binary getLlama({build: "never"}) would load for a backend: a local build
 * first (as getLlama does), then the prebuilt `@node-llama-cpp/<platform>-<arch>[-gpu]` package, whose
 * version must equal node-llama-cpp's own. ROCm has no prebuilt package: only a local build made with
 * GGML_HIP counts, loaded as a "no GPU type" build with those CMake options.
 */
export async function findLlamaBinary(backend: GpuBackend, options: FindLlamaBinaryOptions = {}): Promise<LlamaBinaryInfo> {
    const packageDir = options.packageDir ?? await resolveNodeLlamaCppDir();
    if (packageDir == null)
        return { found: false, reason: "node-llama-cpp is not installed" };

    const platform = toNlcPlatform(options.platform ?? process.platform);
    const arch = options.arch ?? process.arch;
    const version = await readPackageVersion(packageDir);

    const localBuild = await findLocalBuild(packageDir, backend, platform, arch);
    if (localBuild != null)
        return localBuild;

    if (backend === "rocm") {
        return {
            found: false,
            reason: `node-llama-cpp${version != null ? ` ${version}` : ""} ships no ROCm binary and no local GGML_HIP build exists; ` +
                `build one with: ${rocmBuildHint}`
        };
    }

    const folderName = `${platform}-${arch}${backend === "cpu" ? "" : "-" + backend}`;
    const packageName = `@node-llama-cpp/${folderName}`;

    // node-llama-cpp first looks in its own bins/ folder (binaries moved there by hand).
    const ownBinsDir = path.join(packageDir, "bins", folderName);
    if (await exists(path.join(ownBinsDir, "llama-addon.node")))
        return await describePrebuilt(backend, ownBinsDir, undefined, `node-llama-cpp/bins/${folderName}`);

    const prebuiltDir = await resolvePackageDir(packageDir, packageName);
    if (prebuiltDir == null)
        return { found: false, reason: `prebuilt package ${packageName} is not installed and there is no local build` };
    const prebuiltVersion = await readPackageVersion(prebuiltDir);
    if (version != null && prebuiltVersion !== version)
        return {
            found: false,
            reason: `${packageName} is version ${prebuiltVersion ?? "unknown"} but node-llama-cpp is ${version}; node-llama-cpp ignores it`
        };
    const binDir = path.join(prebuiltDir, "bins", folderName);
    if (!(await exists(path.join(binDir, "llama-addon.node"))))
        return { found: false, reason: `${packageName} has no ${folderName}/llama-addon.node` };

    let extBinDir: string | undefined;
    if (backend === "cuda") {
        const extDir = await resolvePackageDir(packageDir, `${packageName}-ext`);
        if (extDir != null && (await readPackageVersion(extDir)) === prebuiltVersion)
            extBinDir = path.join(extDir, "bins", folderName);
    }
    return await describePrebuilt(backend, binDir, extBinDir, `${packageName} ${prebuiltVersion ?? ""}`.trim());
}

async function describePrebuilt(backend: GpuBackend, binDir: string, extBinDir: string | undefined, label: string): Promise<LlamaBinaryInfo> {
    if (backend !== "cuda")
        return { found: true, source: "prebuilt", path: binDir, reason: `prebuilt ${label}` };

    const majors: number[] = [];
    for (const file of [path.join(binDir, "libggml-cuda.so"), ...(extBinDir != null ? [path.join(extBinDir, "fallback", "libggml-cuda.so")] : [])]) {
        const major = await readCudaRuntimeMajor(file);
        if (major != null && !majors.includes(major))
            majors.push(major);
    }
    return {
        found: true,
        source: "prebuilt",
        path: binDir,
        ...(majors.length > 0 ? { cudaRuntimeMajors: majors } : {}),
        reason: `prebuilt ${label}` + (majors.length > 0 ? ` (links CUDA runtime ${majors.join(" or ")})` : "")
    };
}

async function findLocalBuild(packageDir: string, backend: GpuBackend, platform: string, arch: string): Promise<LlamaBinaryInfo | null> {
    const localBuildsDir = path.join(packageDir, "llama", "localBuilds");
    let folders: string[];
    try {
        folders = (await fs.readdir(localBuildsDir)).sort();
    } catch {
        return null;
    }
    for (const folder of folders) {
        const buildDir = path.join(localBuildsDir, folder);
        const releaseDir = path.join(buildDir, "Release");
        if (!(await exists(path.join(buildDir, "buildDone.status"))) || !(await exists(path.join(releaseDir, "llama-addon.node"))))
            continue;
        const metadata = await readJson<BuildMetadata>(path.join(releaseDir, "_nlcBuildMetadata.json"));
        const buildOptions = metadata?.buildOptions;
        if (buildOptions == null || buildOptions.platform !== platform || buildOptions.arch !== arch)
            continue;
        const cmakeOptions = buildOptions.customCmakeOptions ?? {};
        if (classifyBuild(buildOptions.gpu ?? false, cmakeOptions) !== backend)
            continue;
        return {
            found: true,
            source: "localBuild",
            path: releaseDir,
            ...(Object.keys(cmakeOptions).length > 0 ? { cmakeOptions } : {}),
            reason: `local build ${folder}` + (backend === "rocm" ? " (GGML_HIP)" : "")
        };
    }
    return null;
}

function classifyBuild(gpu: string | false, cmakeOptions: Record<string, string>): GpuBackend | null {
    if (gpu === "cuda")
        return "cuda";
    if (gpu === "vulkan")
        return "vulkan";
    if (gpu !== false)
        return null;
    if (hipCmakeOptionNames.some((name) => isOn(cmakeOptions[name])))
        return "rocm";
    if (gpuCmakeOptionNames.some((name) => isOn(cmakeOptions[name])))
        return null;
    return "cpu";
}

function isOn(value: string | undefined): boolean {
    return value != null && !["", "0", "off", "false", "no"].includes(value.toLowerCase());
}

/** The CUDA runtime soname is in .dynstr near the start of the file; reading the head avoids loading 150+ MB. */
async function readCudaRuntimeMajor(file: string): Promise<number | null> {
    let handle: fs.FileHandle | undefined;
    try {
        handle = await fs.open(file, "r");
        const buffer = Buffer.alloc(cudaHeadBytes);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
        const match = /libcudart\.so\.(\d+)/.exec(buffer.subarray(0, bytesRead).toString("latin1"));
        return match?.[1] != null ? Number(match[1]) : null;
    } catch {
        return null;
    } finally {
        await handle?.close();
    }
}

function toNlcPlatform(platform: NodeJS.Platform): string {
    if (platform === "darwin")
        return "mac";
    if (platform === "win32")
        return "win";
    return platform;
}

/** The installed node-llama-cpp package directory, or null. */
export async function resolveNodeLlamaCppDir(): Promise<string | null> {
    try {
        return await findPackageRoot(createRequire(import.meta.url).resolve("node-llama-cpp"), "node-llama-cpp");
    } catch {
        return null;
    }
}

async function resolvePackageDir(fromDir: string, packageName: string): Promise<string | null> {
    try {
        return await findPackageRoot(createRequire(path.join(fromDir, "package.json")).resolve(packageName), packageName);
    } catch {
        return null;
    }
}

/** Walks up from a resolved entry file to the package.json naming `packageName` (exports hide package.json). */
async function findPackageRoot(entryFile: string, packageName: string): Promise<string | null> {
    let dir = path.dirname(entryFile);
    for (;;) {
        const json = await readJson<{ name?: unknown }>(path.join(dir, "package.json"));
        if (json?.name === packageName)
            return dir;
        const parent = path.dirname(dir);
        if (parent === dir)
            return null;
        dir = parent;
    }
}

async function readPackageVersion(dir: string): Promise<string | null> {
    const json = await readJson<{ version?: unknown }>(path.join(dir, "package.json"));
    return typeof json?.version === "string" ? json.version : null;
}

async function readJson<T>(file: string): Promise<T | null> {
    try {
        return JSON.parse(await fs.readFile(file, "utf8")) as T;
    } catch {
        return null;
    }
}

async function exists(file: string): Promise<boolean> {
    try {
        await fs.access(file);
        return true;
    } catch {
        return false;
    }
}
