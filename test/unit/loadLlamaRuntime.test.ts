import { NoBinaryFoundError, type Llama, type LlamaOptions } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { loadLlamaRuntime, type RuntimeLog } from "../../src/engine/nodeLlamaCpp/loadLlamaRuntime.js";
import { BackendUnavailableError } from "../../src/hardware/BackendUnavailableError.js";
import type { BackendChoice, GpuBackend, GpuRequest } from "../../src/hardware/types.js";

interface FakeLlama {
    gpu: string | false;
    devices: string[];
    disposed: boolean;
}

/** getLlama stand-in: per GPU option, a fake Llama or an error; records the options it was given. */
function fakeGetLlama(outcomes: Partial<Record<string, FakeLlama | Error>>) {
    const calls: LlamaOptions[] = [];
    const created: FakeLlama[] = [];
    const getLlama = async (options: LlamaOptions): Promise<Llama> => {
        calls.push(options);
        const key = options.cmakeOptions?.GGML_HIP != null ? "hip" : String(options.gpu);
        const outcome = outcomes[key];
        if (outcome == null || outcome instanceof Error)
            throw outcome ?? new NoBinaryFoundError();
        created.push(outcome);
        return {
            get gpu() { return outcome.gpu; },
            getGpuDeviceNames: async () => outcome.devices,
            dispose: async () => { outcome.disposed = true; }
        } as unknown as Llama;
    };
    return { getLlama, calls, created };
}

function recordingLog(): RuntimeLog & { warnings: string[]; infos: string[] } {
    const warnings: string[] = [];
    const infos: string[] = [];
    return {
        warnings,
        infos,
        info: (obj, msg) => infos.push(typeof obj === "string" ? obj : msg ?? ""),
        warn: (obj, msg) => warnings.push(typeof obj === "string" ? obj : msg ?? "")
    };
}

function choice(requested: GpuRequest, backend: GpuBackend, usable: GpuBackend[] = ["cuda", "rocm", "vulkan", "cpu"]): BackendChoice {
    return {
        requested,
        backend,
        reason: "test",
        candidates: (["cuda", "rocm", "vulkan", "cpu"] as const).map((entry) => ({
            backend: entry,
            usable: usable.includes(entry),
            reason: `${entry} reason`,
            ...(entry === "rocm" ? { cmakeOptions: { GGML_HIP: "ON", AMDGPU_TARGETS: "gfx1100" } } : {})
        }))
    };
}

const cpuLlama = (): FakeLlama => ({ gpu: false, devices: [], disposed: false });

describe("loadLlamaRuntime", () => {
    it("maps each backend to getLlama options and never builds", async () => {
        const fake = fakeGetLlama({
            cuda: { gpu: "cuda", devices: ["NVIDIA H100"], disposed: false },
            vulkan: { gpu: "vulkan", devices: ["AMD Radeon"], disposed: false },
            hip: { gpu: "cuda", devices: ["AMD Instinct MI300X"], disposed: false },
            false: cpuLlama()
        });
        for (const backend of ["cuda", "rocm", "vulkan", "cpu"] as const) {
            const runtime = await loadLlamaRuntime(choice(backend, backend), recordingLog(), { getLlama: fake.getLlama });
            expect(runtime.backend).toBe(backend);
            expect(runtime.fallbacks).toEqual([]);
        }
        expect(fake.calls.map((call) => [call.gpu, call.cmakeOptions, call.usePrebuiltBinaries])).toEqual([
            ["cuda", undefined, true],
            [false, { GGML_HIP: "ON", AMDGPU_TARGETS: "gfx1100" }, false],
            ["vulkan", undefined, true],
            [false, undefined, true]
        ]);
        for (const call of fake.calls) {
            expect(call.build).toBe("never");
            expect(call.skipDownload).toBe(true);
            expect(call.progressLogs).toBe(false);
            expect(call.logLevel).toBe("warn");
        }
    });

    it("throws BackendUnavailableError when a forced backend has no loadable binary, without trying another", async () => {
        const fake = fakeGetLlama({ false: cpuLlama() });
        const promise = loadLlamaRuntime(choice("cuda", "cuda"), recordingLog(), { getLlama: fake.getLlama });
        await expect(promise).rejects.toBeInstanceOf(BackendUnavailableError);
        await expect(promise).rejects.toMatchObject({ backend: "cuda", message: expect.stringContaining("The cuda backend is unavailable: node-llama-cpp has no cuda binary that loads here") });
        expect(fake.calls).toHaveLength(1);
    });

    it("under auto, falls back down the order through usable candidates to the CPU, logging each step", async () => {
        const fake = fakeGetLlama({ cuda: new Error("libcuda.so.1: cannot open shared object file"), false: cpuLlama() });
        const log = recordingLog();
        const runtime = await loadLlamaRuntime(choice("auto", "cuda", ["cuda", "vulkan", "cpu"]), log, { getLlama: fake.getLlama });
        expect(runtime.backend).toBe("cpu");
        // rocm was not usable, so it is not tried.
        expect(fake.calls.map((call) => call.gpu)).toEqual(["cuda", "vulkan", false]);
        expect(runtime.fallbacks).toEqual([
            "cuda: libcuda.so.1: cannot open shared object file",
            "vulkan: node-llama-cpp has no vulkan binary that loads here (prebuilt binaries are tested in a child process first; this usually means a missing or too old GPU driver or runtime library)"
        ]);
        expect(log.warnings).toEqual([
            "the cuda backend failed to load; falling back to vulkan",
            "the vulkan backend failed to load; falling back to cpu",
            "llama.cpp runtime loaded with the cpu backend after falling back"
        ]);
    });

    it("rejects a binary that loads without a GPU device, disposing it", async () => {
        const noDevice: FakeLlama = { gpu: "vulkan", devices: [], disposed: false };
        const wrongType: FakeLlama = { gpu: false, devices: [], disposed: false };
        const fake = fakeGetLlama({ vulkan: noDevice, cuda: wrongType, false: cpuLlama() });

        await expect(loadLlamaRuntime(choice("vulkan", "vulkan"), recordingLog(), { getLlama: fake.getLlama }))
            .rejects.toThrow("The vulkan backend is unavailable: the binary loaded but found no GPU device");
        expect(noDevice.disposed).toBe(true);

        const runtime = await loadLlamaRuntime(choice("auto", "cuda"), recordingLog(), { getLlama: fake.getLlama });
        expect(wrongType.disposed).toBe(true);
        expect(runtime.backend).toBe("cpu");
        expect(runtime.fallbacks[0]).toBe("cuda: the binary loaded but its GPU type is false, not cuda");
    });

    it("under auto, throws when even the CPU fails, listing every attempt", async () => {
        const fake = fakeGetLlama({});
        await expect(loadLlamaRuntime(choice("auto", "vulkan"), recordingLog(), { getLlama: fake.getLlama }))
            .rejects.toThrow(/^No llama.cpp backend could be loaded: vulkan: .*; cpu: /);
        expect(fake.calls.map((call) => call.gpu)).toEqual(["vulkan", false]);
    });

    it("forwards llama.cpp logs: warnings to log.warn, the rest to log.info, blank lines dropped", async () => {
        const fake = fakeGetLlama({ false: cpuLlama() });
        const log = recordingLog();
        await loadLlamaRuntime(choice("cpu", "cpu"), log, { getLlama: fake.getLlama });
        const logger = fake.calls[0]?.logger;
        expect(logger).toBeTypeOf("function");
        logger?.("warn" as never, "llama_model_load: something odd\n");
        logger?.("info" as never, "loaded meta data\n");
        logger?.("error" as never, "   ");
        expect(log.warnings).toContain("llama_model_load: something odd");
        expect(log.infos).toContain("loaded meta data");
        expect(log.warnings).not.toContain("");
    });
});
