import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadLlamaRuntime, type RuntimeLog } from "../../src/engine/nodeLlamaCpp/loadLlamaRuntime.js";
import { BackendUnavailableError } from "../../src/hardware/BackendUnavailableError.js";
import { chooseBackend } from "../../src/hardware/chooseBackend.js";
import { detectHardware } from "../../src/hardware/detectHardware.js";
import { findLlamaBinary } from "../../src/hardware/findLlamaBinary.js";
import { createSystemProbes, systemProbes } from "../../src/hardware/HardwareProbes.js";
import type { HardwareReport } from "../../src/hardware/types.js";

const execFileAsync = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const cliEntry = path.join(repoRoot, "distjs", "index.js");

const nvidiaSmiStub = `#!/bin/sh
if [ "$1" = "--query-gpu=name,memory.total,memory.free,driver_version" ] && [ "$2" = "--format=csv,noheader,nounits" ]; then
    echo "NVIDIA H100 80GB HBM3, 81559, 81003, 580.82.07"
    echo "NVIDIA H100 80GB HBM3, 81559, 512, 580.82.07"
    exit 0
fi
echo "stub nvidia-smi: unexpected arguments: $*" >&2
exit 2
`;

const rocmSmiStub = `#!/bin/sh
if [ "$*" = "--showproductname --showmeminfo vram --json" ]; then
    echo '{"card0": {"Card Series": "AMD Instinct MI300X OAM", "Card Model": "0x74a1", "VRAM Total Memory (B)": "206141652992", "VRAM Total Used Memory (B)": "141652992"}}'
    exit 0
fi
echo "stub rocm-smi: unexpected arguments: $*" >&2
exit 2
`;

const failingNvidiaSmiStub = `#!/bin/sh
echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."
exit 9
`;

const quietLog: RuntimeLog = { info: () => undefined, warn: () => undefined };

let tempDir: string;
let stubDir: string;
let failingStubDir: string;
let fakeLibDir: string;
const originalPath = process.env.PATH;
let hostReport: HardwareReport;

async function writeScript(dir: string, name: string, text: string): Promise<void> {
    await fs.writeFile(path.join(dir, name), text, { mode: 0o755 });
}

beforeAll(async () => {
    tempDir = await fs.mkdtemp(path.join(os.tmpdir(), "mentator-hw-"));
    stubDir = path.join(tempDir, "bin");
    failingStubDir = path.join(tempDir, "bin-failing");
    fakeLibDir = path.join(tempDir, "lib");
    await Promise.all([stubDir, failingStubDir, fakeLibDir].map((dir) => fs.mkdir(dir)));
    await writeScript(stubDir, "nvidia-smi", nvidiaSmiStub);
    await writeScript(stubDir, "rocm-smi", rocmSmiStub);
    await writeScript(stubDir, "slow-tool", "#!/bin/sh\nsleep 5\n");
    await writeScript(failingStubDir, "nvidia-smi", failingNvidiaSmiStub);
    // Empty files are enough for detection; they could never be dlopen()ed.
    for (const name of ["libcuda.so.1", "libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13"])
        await fs.writeFile(path.join(fakeLibDir, name), "");
    hostReport = await detectHardware(systemProbes);
});

afterEach(() => {
    process.env.PATH = originalPath;
});

afterAll(async () => {
    await fs.rm(tempDir, { recursive: true, force: true });
});

/** Whether this machine itself could run CUDA; the fallback tests below need it not to. */
function hostHasCuda(): boolean {
    return chooseBackend(hostReport, "auto").candidates.some((candidate) => candidate.backend === "cuda" && candidate.usable);
}

describe("real probes with stub commands first on PATH", () => {
    it("read GPUs from stub nvidia-smi and rocm-smi scripts", async () => {
        process.env.PATH = `${stubDir}${path.delimiter}${originalPath ?? ""}`;
        const report = await detectHardware(systemProbes);

        expect(report.nvidia.nvidiaSmi).toBe("ok");
        expect(report.nvidia.present).toBe(true);
        expect(report.nvidia.driverVersion).toBe("580.82.07");
        expect(report.nvidia.devices).toEqual([
            { name: "NVIDIA H100 80GB HBM3", memoryTotalBytes: 81559 * 1024 ** 2, memoryFreeBytes: 81003 * 1024 ** 2 },
            { name: "NVIDIA H100 80GB HBM3", memoryTotalBytes: 81559 * 1024 ** 2, memoryFreeBytes: 512 * 1024 ** 2 }
        ]);

        expect(report.amd.rocmSmi).toBe("ok");
        expect(report.amd.present).toBe(true);
        expect(report.amd.devices).toEqual([{ name: "AMD Instinct MI300X OAM", memoryTotalBytes: 206141652992, memoryFreeBytes: 206000000000 }]);
        if (!report.amd.kfd)
            expect(report.amd.reason).toContain("/dev/kfd is missing");

        // The real CPU is still described from /proc.
        expect(report.cpu.cores).toBeGreaterThan(0);
        expect(report.cpu.memoryTotalBytes).toBeGreaterThan(0);
        expect(report.cpu.model).not.toBe("");
    });

    it("report a failing nvidia-smi with its own message", async () => {
        process.env.PATH = `${failingStubDir}${path.delimiter}${originalPath ?? ""}`;
        const report = await detectHardware(systemProbes);
        expect(report.nvidia.present).toBe(false);
        expect(report.nvidia.nvidiaSmi).toBe("failed");
        expect(report.nvidia.reason).toContain("nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver");
    });

    it("use the PATH given in their env option, and report missing and timed-out commands", async () => {
        const probes = createSystemProbes({ env: { ...process.env, PATH: `${stubDir}${path.delimiter}${originalPath ?? ""}` } });
        const result = await probes.runCommand("nvidia-smi", ["--query-gpu=name,memory.total,memory.free,driver_version", "--format=csv,noheader,nounits"], 5000);
        expect(result).toMatchObject({ code: 0, timedOut: false });
        expect(result?.stdout).toContain("NVIDIA H100 80GB HBM3, 81559, 81003, 580.82.07");

        const wrongArgs = await probes.runCommand("nvidia-smi", ["-L"], 5000);
        expect(wrongArgs).toMatchObject({ code: 2, timedOut: false, stderr: "stub nvidia-smi: unexpected arguments: -L\n" });

        expect(await probes.runCommand("mentator-no-such-command", [], 5000)).toBeNull();

        const started = Date.now();
        const slow = await probes.runCommand("slow-tool", [], 300);
        expect(slow).toMatchObject({ code: null, timedOut: true });
        expect(Date.now() - started).toBeLessThan(4000);
    });

    it("find libraries on LD_LIBRARY_PATH as loadable, and ones only under CUDA_PATH as not", async () => {
        const cudaPath = path.join(tempDir, "cuda-12.9");
        await fs.mkdir(path.join(cudaPath, "lib64"), { recursive: true });
        await fs.writeFile(path.join(cudaPath, "lib64", "libcublas.so.12"), "");
        const probes = createSystemProbes({ env: { ...process.env, LD_LIBRARY_PATH: fakeLibDir, CUDA_PATH: cudaPath } });
        const found = await probes.findSharedLibraries(["libcudart.so.13", "libcublas.so.12", "libmentator-none.so.1"]);
        expect(found.get("libcudart.so.13")).toEqual({ name: "libcudart.so.13", path: path.join(fakeLibDir, "libcudart.so.13"), onLoaderPath: true });
        if (found.get("libcublas.so.12")?.path.startsWith(cudaPath) === true)
            expect(found.get("libcublas.so.12")?.onLoaderPath).toBe(false);
        else // a real CUDA 12 on this machine wins, as it would for ld.so
            expect(found.get("libcublas.so.12")?.onLoaderPath).toBe(true);
        expect(found.has("libmentator-none.so.1")).toBe(false);
    });
});

describe("handing the choice to node-llama-cpp on this machine", () => {
    it("loads the CPU backend for real", async () => {
        const choice = chooseBackend(hostReport, "cpu");
        const runtime = await loadLlamaRuntime(choice, quietLog);
        try {
            expect(runtime.backend).toBe("cpu");
            expect(runtime.fallbacks).toEqual([]);
            expect(runtime.llama.gpu).toBe(false);
            expect(runtime.llama.cpuMathCores).toBeGreaterThan(0);
        } finally {
            await runtime.llama.dispose();
        }
    });

    it.runIf(!existsSync("/proc/driver/nvidia/version"))("refuses a forced CUDA backend when no NVIDIA driver exists", async () => {
        expect(hostHasCuda()).toBe(false);
        let error: unknown;
        try {
            chooseBackend(hostReport, "cuda");
        } catch (caught) {
            error = caught;
        }
        expect(error).toBeInstanceOf(BackendUnavailableError);
        expect((error as BackendUnavailableError).backend).toBe("cuda");
        expect((error as BackendUnavailableError).message).toMatch(/^The cuda backend is unavailable: /);
    });

    it.runIf(!existsSync("/proc/driver/nvidia/version"))("with stub nvidia-smi and fake CUDA libraries: chooses CUDA, then a forced load fails and auto falls back", async () => {
        const probes = createSystemProbes({
            env: { ...process.env, PATH: `${stubDir}${path.delimiter}${originalPath ?? ""}`, LD_LIBRARY_PATH: fakeLibDir }
        });
        const report = await detectHardware(probes);
        expect(report.nvidia.cudaRuntime).toMatchObject({ found: true, driverLibraryFound: true });
        expect(report.nvidia.cudaRuntime.majorVersions).toContain(13);
        expect(report.nvidia.cudaRuntime.libraries).toContain(path.join(fakeLibDir, "libcuda.so.1"));

        const forced = chooseBackend(report, "cuda");
        expect(forced.backend).toBe("cuda");
        // node-llama-cpp tests its CUDA binary in a child process; with no driver it cannot load.
        const failure = loadLlamaRuntime(forced, quietLog);
        await expect(failure).rejects.toBeInstanceOf(BackendUnavailableError);
        await expect(failure).rejects.toMatchObject({ backend: "cuda", message: expect.stringContaining("The cuda backend is unavailable: node-llama-cpp has no cuda binary that loads here") });

        const auto = chooseBackend(report, "auto");
        expect(auto.backend).toBe("cuda");
        const runtime = await loadLlamaRuntime(auto, quietLog);
        try {
            expect(runtime.backend).not.toBe("cuda");
            expect(runtime.fallbacks[0]).toMatch(/^cuda: node-llama-cpp has no cuda binary that loads here/);
        } finally {
            await runtime.llama.dispose();
        }
    });
});

describe("findLlamaBinary", () => {
    it("finds the installed prebuilt binaries and the CUDA runtimes they link", async () => {
        const cuda = await findLlamaBinary("cuda");
        expect(cuda).toMatchObject({ found: true, source: "prebuilt", cudaRuntimeMajors: [13, 12] });
        expect(cuda.reason).toContain("@node-llama-cpp/linux-x64-cuda 3.21.1");
        expect(await findLlamaBinary("cpu")).toMatchObject({ found: true, source: "prebuilt" });
        const rocm = await findLlamaBinary("rocm");
        expect(rocm.found).toBe(false);
        expect(rocm.reason).toContain("NODE_LLAMA_CPP_CMAKE_OPTION_GGML_HIP=ON npx --no node-llama-cpp source build --gpu false");
    });

    it("finds a local GGML_HIP build as the ROCm binary, with its CMake options, and skips unfinished or foreign builds", async () => {
        const packageDir = path.join(tempDir, "fake-node-llama-cpp");
        const makeBuild = async (folder: string, options: { done: boolean; arch?: string; gpu?: string | false; cmake?: Record<string, string> }): Promise<void> => {
            const release = path.join(packageDir, "llama", "localBuilds", folder, "Release");
            await fs.mkdir(release, { recursive: true });
            await fs.writeFile(path.join(release, "llama-addon.node"), "");
            await fs.writeFile(path.join(release, "_nlcBuildMetadata.json"), JSON.stringify({
                buildOptions: { platform: "linux", arch: options.arch ?? "x64", gpu: options.gpu ?? false, customCmakeOptions: options.cmake ?? {} }
            }));
            if (options.done)
                await fs.writeFile(path.join(packageDir, "llama", "localBuilds", folder, "buildDone.status"), "");
        };
        await fs.mkdir(packageDir, { recursive: true });
        await fs.writeFile(path.join(packageDir, "package.json"), JSON.stringify({ name: "node-llama-cpp", version: "3.21.1" }));
        await makeBuild("linux-x64-0unfinished", { done: false, cmake: { GGML_HIP: "ON" } });
        await makeBuild("linux-x64-1arm", { done: true, arch: "arm64", cmake: { GGML_HIP: "ON" } });
        await makeBuild("linux-x64-2hip", { done: true, cmake: { GGML_HIP: "ON", AMDGPU_TARGETS: "gfx1100" } });
        await makeBuild("linux-x64-3vulkan", { done: true, gpu: "vulkan" });

        const options = { packageDir, platform: "linux" as const, arch: "x64" };
        const rocm = await findLlamaBinary("rocm", options);
        expect(rocm).toEqual({
            found: true,
            source: "localBuild",
            path: path.join(packageDir, "llama", "localBuilds", "linux-x64-2hip", "Release"),
            cmakeOptions: { GGML_HIP: "ON", AMDGPU_TARGETS: "gfx1100" },
            reason: "local build linux-x64-2hip (GGML_HIP)"
        });
        expect(await findLlamaBinary("vulkan", options)).toMatchObject({ found: true, source: "localBuild" });
        // A HIP build is not a CPU build, and this fake package has no prebuilt one.
        expect(await findLlamaBinary("cpu", options)).toMatchObject({ found: false, reason: "prebuilt package @node-llama-cpp/linux-x64 is not installed and there is no local build" });
    });
});

describe("mentator doctor (built CLI)", () => {
    async function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
        if (!existsSync(cliEntry))
            throw new Error(`${cliEntry} is missing: run \`npm run buildjs\` (npm test does) before this test`);
        try {
            const { stdout, stderr } = await execFileAsync(process.execPath, [cliEntry, ...args], { env, cwd: tempDir, timeout: 60_000 });
            return { code: 0, stdout, stderr };
        } catch (error) {
            const failure = error as { code?: number; stdout?: string; stderr?: string };
            return { code: typeof failure.code === "number" ? failure.code : -1, stdout: failure.stdout ?? "", stderr: failure.stderr ?? "" };
        }
    }

    it("prints one JSON object with the stubbed GPUs, the choice and the loaded backend", async () => {
        const env = { ...process.env, PATH: `${stubDir}${path.delimiter}${originalPath ?? ""}`, MENTATOR_GPU: "auto" };
        const result = await runCli(["doctor", "--json", "--data-dir", path.join(tempDir, "data")], env);
        expect(result.stderr).toBe("");
        expect(result.code).toBe(0);
        const json = JSON.parse(result.stdout) as { hardware: HardwareReport; choice: { requested: string; backend: string; candidates: unknown[] }; nodeLlamaCpp: { version: string; loadedBackend: string } };
        expect(json.hardware.nvidia.devices.map((device) => device.name)).toEqual(["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"]);
        expect(json.hardware.amd.devices.map((device) => device.name)).toEqual(["AMD Instinct MI300X OAM"]);
        expect(json.choice.requested).toBe("auto");
        expect(json.choice.candidates).toHaveLength(4);
        expect(json.nodeLlamaCpp.version).toBe("3.21.1");
        expect(json.nodeLlamaCpp.loadedBackend).toBe(json.choice.backend);
    });

    it.runIf(!existsSync("/proc/driver/nvidia/version"))("exits 1 when CUDA is forced (MENTATOR_GPU or --gpu) and there is no driver", async () => {
        const viaEnv = await runCli(["doctor", "--data-dir", path.join(tempDir, "data")], { ...process.env, MENTATOR_GPU: "cuda" });
        expect(viaEnv.code).toBe(1);
        expect(viaEnv.stdout).toContain("Chosen: none: The cuda backend is unavailable: no NVIDIA GPU");
        expect(viaEnv.stdout).toMatch(/^cpu\s+yes\s+/m);

        const viaFlag = await runCli(["doctor", "--gpu", "cuda", "--json", "--data-dir", path.join(tempDir, "data")], process.env);
        expect(viaFlag.code).toBe(1);
        expect((JSON.parse(viaFlag.stdout) as { choice: { backend: null } }).choice.backend).toBeNull();

        const badFlag = await runCli(["doctor", "--gpu", "metal", "--data-dir", path.join(tempDir, "data")], process.env);
        expect(badFlag.code).toBe(2);
        expect(badFlag.stderr).toContain("expected one of auto, cuda, rocm, vulkan, cpu");
    });
});
