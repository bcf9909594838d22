import type { Llama } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { doctorExitCode, doctorJson, formatDoctorReport, runDoctor, type DoctorReport } from "../../src/cli/commands/doctor.js";
import type { LlamaRuntime } from "../../src/engine/nodeLlamaCpp/loadLlamaRuntime.js";
import { BackendUnavailableError } from "../../src/hardware/BackendUnavailableError.js";
import type { BackendChoice } from "../../src/hardware/types.js";
import { createFakeProbes, ok } from "../helpers/hardwareFakes.js";

const nvidiaMachine = () => createFakeProbes({
    commands: { "nvidia-smi": ok("NVIDIA L4, 23034, 22000, 580.82.07\n") },
    libraries: ["libcuda.so.1", "libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13"],
    files: { "/proc/meminfo": "MemTotal: 16777216 kB\nMemAvailable: 8388608 kB\n" }
});

function fakeRuntime(backend: LlamaRuntime["backend"], devices: string[], fallbacks: string[] = []): { runtime: LlamaRuntime; disposed: () => boolean } {
    let disposed = false;
    const llama = { getGpuDeviceNames: async () => devices, dispose: async () => { disposed = true; } } as unknown as Llama;
    return { runtime: { llama, backend, fallbacks }, disposed: () => disposed };
}

describe("runDoctor", () => {
    it("detects, chooses CUDA, loads it once and releases it", async () => {
        const fake = fakeRuntime("cuda", ["NVIDIA L4"]);
        const seen: BackendChoice[] = [];
        const report = await runDoctor({
            gpu: "auto",
            probes: nvidiaMachine(),
            loadRuntime: async (choice) => {
                seen.push(choice);
                return fake.runtime;
            }
        });
        expect(seen.map((choice) => choice.backend)).toEqual(["cuda"]);
        expect(fake.disposed()).toBe(true);
        expect(report.choice?.backend).toBe("cuda");
        expect(report.nodeLlamaCpp).toMatchObject({ loadedBackend: "cuda", gpuDevices: ["NVIDIA L4"], fallbacks: [], error: null, version: "3.21.1" });
        expect(doctorExitCode(report)).toBe(0);
    });

    it("exits 0 under auto after a fallback, and 1 when nothing loads", async () => {
        const fellBack = await runDoctor({
            gpu: "auto",
            probes: nvidiaMachine(),
            loadRuntime: async () => fakeRuntime("cpu", [], ["cuda: no binary"]).runtime
        });
        expect(fellBack.nodeLlamaCpp.loadedBackend).toBe("cpu");
        expect(fellBack.nodeLlamaCpp.fallbacks).toEqual(["cuda: no binary"]);
        expect(doctorExitCode(fellBack)).toBe(0);

        const nothing = await runDoctor({
            gpu: "auto",
            probes: nvidiaMachine(),
            loadRuntime: async () => {
                throw new BackendUnavailableError("cpu", "cuda: a; cpu: b", { message: "No llama.cpp backend could be loaded: cuda: a; cpu: b" });
            }
        });
        expect(nothing.nodeLlamaCpp.error).toBe("No llama.cpp backend could be loaded: cuda: a; cpu: b");
        expect(nothing.nodeLlamaCpp.fallbacks).toEqual(["cuda: a", "cpu: b"]);
        expect(doctorExitCode(nothing)).toBe(1);
    });

    it("exits 1 when a forced backend is unusable, without trying to load anything, and still lists the candidates", async () => {
        let loads = 0;
        const report = await runDoctor({
            gpu: "rocm",
            probes: nvidiaMachine(),
            loadRuntime: async () => {
                loads++;
                return fakeRuntime("cpu", []).runtime;
            }
        });
        expect(loads).toBe(0);
        expect(report.choice).toBeNull();
        expect(report.choiceError).toBe("The rocm backend is unavailable: no AMD GPU: no /dev/kfd and no AMD GPU found");
        expect(report.candidates.map((candidate) => [candidate.backend, candidate.usable])).toEqual([["cuda", true], ["rocm", false], ["vulkan", false], ["cpu", true]]);
        expect(doctorExitCode(report)).toBe(1);
    });

    it("exits 1 when a forced, usable-looking backend fails to load", async () => {
        const report = await runDoctor({
            gpu: "cuda",
            probes: nvidiaMachine(),
            loadRuntime: async () => {
                throw new BackendUnavailableError("cuda", "the binary loaded but found no GPU device");
            }
        });
        expect(report.choice?.backend).toBe("cuda");
        expect(report.nodeLlamaCpp.error).toBe("The cuda backend is unavailable: the binary loaded but found no GPU device");
        expect(doctorExitCode(report)).toBe(1);
    });
});

describe("formatDoctorReport and doctorJson", () => {
    async function sampleReport(gpu: "auto" | "vulkan"): Promise<DoctorReport> {
        return await runDoctor({ gpu, probes: nvidiaMachine(), loadRuntime: async () => fakeRuntime("cuda", ["NVIDIA L4"], ["rocm: x"]).runtime });
    }

    it("prints what was found, the candidates table, the choice and the load result", async () => {
        const text = formatDoctorReport(await sampleReport("auto"));
        expect(text).toContain("NVIDIA    nvidia-smi lists 1 GPU(s), driver 580.82.07");
        expect(text).toContain("GPU 0: NVIDIA L4, VRAM 22.5 GiB (21.5 GiB free)");
        expect(text).toContain("CUDA: driver library libcuda.so.1 found, complete runtime: CUDA 13");
        expect(text).toContain("/usr/lib/x86_64-linux-gnu/libcublasLt.so.13");
        expect(text).toContain("RAM       16.0 GiB total, 8.0 GiB available");
        expect(text).toContain("Backends (requested: auto):");
        expect(text).toMatch(/^BACKEND\s+USABLE\s+REASON$/m);
        expect(text).toMatch(/^cuda\s+yes\s+NVIDIA L4 \(22\.5 GiB\), driver 580\.82\.07, CUDA runtime 13, prebuilt/m);
        expect(text).toMatch(/^rocm\s+no\s+no AMD GPU/m);
        expect(text).toMatch(/^Chosen: cuda: auto \(order cuda > rocm > vulkan > cpu\): cuda: /m);
        expect(text).toContain("Loaded: node-llama-cpp runs with the cuda backend on NVIDIA L4");
        expect(text).toContain("  fell back from rocm: x");
    });

    it("prints a forced, unusable backend as the reason nothing was chosen", async () => {
        const report = await sampleReport("vulkan");
        const text = formatDoctorReport(report);
        expect(text).toContain("Chosen: none: The vulkan backend is unavailable: Vulkan loader libvulkan.so.1 not found");
        expect(text).toContain("Loaded: not tried (no usable backend chosen)");

        const json = JSON.parse(JSON.stringify(doctorJson(report))) as Record<string, unknown>;
        expect(Object.keys(json)).toEqual(["hardware", "choice", "nodeLlamaCpp"]);
        expect(json.choice).toMatchObject({ requested: "vulkan", backend: null, reason: report.choiceError });
        expect((json.choice as { candidates: unknown[] }).candidates).toHaveLength(4);
    });

    it("puts hardware, choice and the runtime in the JSON object", async () => {
        const report = await sampleReport("auto");
        const json = JSON.parse(JSON.stringify(doctorJson(report))) as { hardware: { nvidia: { devices: unknown[] } }; choice: { backend: string }; nodeLlamaCpp: { version: string; loadedBackend: string } };
        expect(json.hardware.nvidia.devices).toHaveLength(1);
        expect(json.choice.backend).toBe("cuda");
        expect(json.nodeLlamaCpp).toMatchObject({ version: "3.21.1", loadedBackend: "cuda" });
    });
});
