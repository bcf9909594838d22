import { describe, expect, it } from "vitest";
import { BackendUnavailableError } from "../../src/hardware/BackendUnavailableError.js";
import { chooseBackend } from "../../src/hardware/chooseBackend.js";
import type { BackendCandidate, GpuBackend, HardwareReport } from "../../src/hardware/types.js";
import { cpuOnlyReport, nvidiaReport } from "../helpers/hardwareFakes.js";

function candidate(choiceCandidates: BackendCandidate[], backend: GpuBackend): BackendCandidate {
    const found = choiceCandidates.find((entry) => entry.backend === backend);
    if (found == null)
        throw new Error(`no candidate ${backend}`);
    return found;
}

function withVulkan(report: HardwareReport): HardwareReport {
    report.vulkan = {
        loaderFound: true,
        path: "/usr/lib/x86_64-linux-gnu/libvulkan.so.1",
        icds: ["/usr/share/vulkan/icd.d/radeon_icd.x86_64.json"],
        reason: "Vulkan loader /usr/lib/x86_64-linux-gnu/libvulkan.so.1, drivers: radeon_icd.x86_64.json"
    };
    return report;
}

function withRocm(report: HardwareReport, { hipBuild = true, kfd = true, hipRuntime = true } = {}): HardwareReport {
    report.amd = {
        present: true,
        rocmSmi: "ok",
        kfd,
        devices: [{ name: "AMD Instinct MI300X", memoryTotalBytes: 192 * 1024 ** 3 }],
        hipRuntime: { found: hipRuntime, libraries: hipRuntime ? ["/opt/rocm/lib/libamdhip64.so.6"] : [] },
        hipBuild: hipBuild ? { found: true, path: "/nm/node-llama-cpp/llama/localBuilds/linux-x64-abc/Release" } : { found: false },
        reason: kfd ? "/dev/kfd present, 1 AMD GPU(s) (rocm-smi)" : "1 AMD GPU(s) seen by rocm-smi, but /dev/kfd is missing: this process cannot use them"
    };
    if (hipBuild)
        report.binaries.rocm = {
            found: true,
            source: "localBuild",
            path: "/nm/node-llama-cpp/llama/localBuilds/linux-x64-abc/Release",
            cmakeOptions: { GGML_HIP: "ON", AMDGPU_TARGETS: "gfx942" },
            reason: "local build linux-x64-abc (GGML_HIP)"
        };
    return report;
}

describe("chooseBackend (auto)", () => {
    it("picks CUDA when an NVIDIA GPU, driver library, runtime and binary are all there", () => {
        const choice = chooseBackend(withVulkan(nvidiaReport()), "auto");
        expect(choice.backend).toBe("cuda");
        expect(choice.requested).toBe("auto");
        expect(choice.candidates.map((entry) => entry.backend)).toEqual(["cuda", "rocm", "vulkan", "cpu"]);
        expect(candidate(choice.candidates, "cuda")).toMatchObject({ usable: true });
        expect(choice.reason).toContain("NVIDIA H100 80GB HBM3");
        expect(choice.reason).toContain("CUDA runtime 13");
        // Every candidate carries its own verdict, usable or not.
        expect(candidate(choice.candidates, "vulkan").usable).toBe(true);
        expect(candidate(choice.candidates, "rocm").reason).toContain("no AMD GPU");
    });

    it("skips CUDA when the driver is there but no CUDA runtime libraries are, and says which ones it wanted", () => {
        const report = nvidiaReport();
        report.nvidia.cudaRuntime = { found: false, majorVersions: [], libraries: ["/usr/lib/x86_64-linux-gnu/libcuda.so.1"], offLoaderPath: [], driverLibraryFound: true };
        const choice = chooseBackend(withVulkan(report), "auto");
        expect(choice.backend).toBe("vulkan");
        const cuda = candidate(choice.candidates, "cuda");
        expect(cuda.usable).toBe(false);
        expect(cuda.reason).toContain("CUDA 13 or 12 runtime");
        expect(cuda.reason).toContain("complete runtime found: none");
        expect(choice.reason).toContain("cuda, rocm not usable");
    });

    it("points at LD_LIBRARY_PATH when the runtime exists only outside the loader path", () => {
        const report = nvidiaReport();
        report.nvidia.cudaRuntime = {
            found: false,
            majorVersions: [],
            libraries: ["/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/local/cuda-12.4/lib64/libcudart.so.12"],
            offLoaderPath: ["/usr/local/cuda-12.4/lib64/libcudart.so.12"],
            driverLibraryFound: true
        };
        const cuda = candidate(chooseBackend(report, "auto").candidates, "cuda");
        expect(cuda.usable).toBe(false);
        expect(cuda.reason).toContain("/usr/local/cuda-12.4/lib64/libcudart.so.12");
        expect(cuda.reason).toContain("LD_LIBRARY_PATH");
    });

    it("skips CUDA when node-llama-cpp has no CUDA binary", () => {
        const report = nvidiaReport();
        report.binaries.cuda = { found: false, reason: "prebuilt package @node-llama-cpp/linux-x64-cuda is not installed and there is no local build" };
        const choice = chooseBackend(report, "auto");
        expect(choice.backend).toBe("cpu");
        expect(candidate(choice.candidates, "cuda").reason).toContain("no node-llama-cpp CUDA binary: prebuilt package @node-llama-cpp/linux-x64-cuda is not installed");
    });

    it("skips CUDA when libcuda.so.1 is missing (container started without the NVIDIA toolkit)", () => {
        const report = nvidiaReport();
        report.nvidia.cudaRuntime.driverLibraryFound = false;
        report.nvidia.cudaRuntime.found = false;
        const cuda = candidate(chooseBackend(report, "auto").candidates, "cuda");
        expect(cuda.usable).toBe(false);
        expect(cuda.reason).toContain("libcuda.so.1");
        expect(cuda.reason).toContain("--gpus all");
    });

    it("rejects a CUDA runtime the driver is too old for, and accepts an older runtime the binary also links", () => {
        const tooOld = nvidiaReport();
        tooOld.nvidia.driverVersion = "550.54.15";
        const cuda = candidate(chooseBackend(tooOld, "auto").candidates, "cuda");
        expect(cuda.usable).toBe(false);
        expect(cuda.reason).toContain("driver 550.54.15 is too old");
        expect(cuda.reason).toContain("CUDA 13 needs >= 580.65.06");

        const cuda12 = nvidiaReport();
        cuda12.nvidia.driverVersion = "550.54.15";
        cuda12.nvidia.cudaRuntime.majorVersions = [13, 12];
        const choice = chooseBackend(cuda12, "auto");
        expect(choice.backend).toBe("cuda");
        expect(choice.reason).toContain("CUDA runtime 12");
    });

    it("does not use a runtime major the binary was not built for", () => {
        const report = nvidiaReport();
        report.nvidia.cudaRuntime.majorVersions = [11];
        const cuda = candidate(chooseBackend(report, "auto").candidates, "cuda");
        expect(cuda.usable).toBe(false);
        expect(cuda.reason).toContain("complete runtime found: 11");
    });

    it("picks ROCm with a HIP build, and hands its CMake options on", () => {
        const choice = chooseBackend(withVulkan(withRocm(cpuOnlyReport())), "auto");
        expect(choice.backend).toBe("rocm");
        const rocm = candidate(choice.candidates, "rocm");
        expect(rocm.cmakeOptions).toEqual({ GGML_HIP: "ON", AMDGPU_TARGETS: "gfx942" });
        expect(rocm.reason).toContain("AMD Instinct MI300X");
        expect(rocm.reason).toContain("libamdhip64.so.6");
    });

    it("skips ROCm without a HIP build and says how to make one", () => {
        const choice = chooseBackend(withVulkan(withRocm(cpuOnlyReport(), { hipBuild: false })), "auto");
        expect(choice.backend).toBe("vulkan");
        const rocm = candidate(choice.candidates, "rocm");
        expect(rocm.usable).toBe(false);
        expect(rocm.reason).toContain("AMD GPU found, but node-llama-cpp 3.21.1 ships no ROCm binary");
    });

    it("skips ROCm when /dev/kfd is missing or the HIP runtime is not loadable", () => {
        const noKfd = candidate(chooseBackend(withRocm(cpuOnlyReport(), { kfd: false }), "auto").candidates, "rocm");
        expect(noKfd.usable).toBe(false);
        expect(noKfd.reason).toContain("/dev/kfd is missing");

        const noHip = candidate(chooseBackend(withRocm(cpuOnlyReport(), { hipRuntime: false }), "auto").candidates, "rocm");
        expect(noHip.usable).toBe(false);
        expect(noHip.reason).toContain("libamdhip64.so");
    });

    it("picks Vulkan when only a Vulkan driver is there, but not with the loader alone", () => {
        expect(chooseBackend(withVulkan(cpuOnlyReport()), "auto").backend).toBe("vulkan");

        const loaderOnly = cpuOnlyReport();
        loaderOnly.vulkan = { loaderFound: true, path: "/usr/lib/libvulkan.so.1", icds: [], reason: "Vulkan loader found, but only software drivers (lvp_icd.x86_64.json)" };
        const choice = chooseBackend(loaderOnly, "auto");
        expect(choice.backend).toBe("cpu");
        expect(candidate(choice.candidates, "vulkan").reason).toContain("only software drivers");
    });

    it("falls to the CPU when nothing else is usable, naming the CPU", () => {
        const choice = chooseBackend(cpuOnlyReport(), "auto");
        expect(choice.backend).toBe("cpu");
        expect(choice.reason).toContain("cuda, rocm, vulkan not usable");
        expect(choice.reason).toContain("Fake CPU, 4 cores, avx avx2 fma f16c");
        expect(choice.candidates.filter((entry) => entry.usable).map((entry) => entry.backend)).toEqual(["cpu"]);
    });

    it("throws when not even the CPU binary exists", () => {
        const report = cpuOnlyReport();
        report.binaries.cpu = { found: false, reason: "prebuilt package @node-llama-cpp/linux-x64 is not installed and there is no local build" };
        expect(() => chooseBackend(report, "auto")).toThrow(/No backend is usable, not even the CPU.*cpu: no node-llama-cpp CPU binary/);
    });
});

describe("chooseBackend (forced)", () => {
    it.each(["cuda", "rocm", "vulkan"] as const)("throws BackendUnavailableError naming %s and why", (backend) => {
        let error: unknown;
        try {
            chooseBackend(cpuOnlyReport(), backend);
        } catch (caught) {
            error = caught;
        }
        expect(error).toBeInstanceOf(BackendUnavailableError);
        const unavailable = error as BackendUnavailableError;
        expect(unavailable.backend).toBe(backend);
        expect(unavailable.message).toContain(`The ${backend} backend is unavailable: `);
        expect(unavailable.reason).toBe(candidate(unavailable.candidates, backend).reason);
        expect(unavailable.candidates).toHaveLength(4);
    });

    it("gives the reason of the forced backend itself (CUDA without runtime)", () => {
        const report = nvidiaReport();
        report.nvidia.cudaRuntime.majorVersions = [];
        report.nvidia.cudaRuntime.found = false;
        expect(() => chooseBackend(report, "cuda")).toThrow(/The cuda backend is unavailable: the CUDA binary needs the CUDA 13 or 12 runtime/);
    });

    it("honours a usable forced backend even when a better one exists", () => {
        const choice = chooseBackend(withVulkan(nvidiaReport()), "cpu");
        expect(choice.backend).toBe("cpu");
        expect(choice.requested).toBe("cpu");
        expect(choice.reason).toMatch(/^forced \(gpu=cpu\): /);

        const rocm = chooseBackend(withRocm(nvidiaReport()), "rocm");
        expect(rocm.backend).toBe("rocm");
    });
});
