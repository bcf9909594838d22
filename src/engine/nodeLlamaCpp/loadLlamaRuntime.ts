import { getLlama, LlamaLogLevel, NoBinaryFoundError, type Llama, type LlamaOptions } from "node-llama-cpp";
import { BackendUnavailableError } from "../../hardware/BackendUnavailableError.js";
import { gpuBackends, type BackendCandidate, type BackendChoice, type GpuBackend } from "../../hardware/types.js";

/** The logging loadLlamaRuntime needs; a pino logger fits. */
export interface RuntimeLog {
    info(obj: object | string, msg?: string): void;
    warn(obj: object | string, msg?: string): void;
}

export interface LoadLlamaRuntimeOptions {
    /** Stands in for node-llama-cpp's getLlama (tests). Default: getLlama. */
    getLlama?: (options: LlamaOptions) => Promise<Llama>;
    /** Lowest llama.cpp log level passed on to `log` (warn and above go to log.warn). Default: warn. */
    logLevel?: LlamaLogLevel;
}

export interface LlamaRuntime {
    llama: Llama;
    backend: GpuBackend;
    /** One line per backend tried and abandoned before `backend` (auto only). */
    fallbacks: string[];
}

/** getLlama's GPU type per backend; ROCm has none in node-llama-cpp 3.x (see gpuOptionsFor). */
const gpuTypes: Record<GpuBackend, LlamaOptions["gpu"]> = { cuda: "cuda", rocm: false, vulkan: "vulkan", cpu: false };
const defaultHipCmakeOptions = { GGML_HIP: "ON" };

/**
 * Hands the backend choice to node-llama-cpp. Never compiles (`build: "never"`): a binary that is not
 * there or does not load is a failure. A forced backend that fails throws BackendUnavailableError; under
 * `auto` the next usable candidate in order is tried (CPU last), and each failure is logged and returned
 * in `fallbacks`.
 */
export async function loadLlamaRuntime(choice: BackendChoice, log: RuntimeLog, options: LoadLlamaRuntimeOptions = {}): Promise<LlamaRuntime> {
    const attempts = choice.requested === "auto" ? autoAttempts(choice) : [choice.backend];
    const fallbacks: string[] = [];

    for (const [index, backend] of attempts.entries()) {
        const candidate = choice.candidates.find((entry) => entry.backend === backend);
        try {
            const llama = await loadBackend(backend, candidate, log, options);
            if (fallbacks.length > 0)
                log.warn({ backend, fallbacks }, `llama.cpp runtime loaded with the ${backend} backend after falling back`);
            else
                log.info({ backend, gpu: llama.gpu }, `llama.cpp runtime loaded with the ${backend} backend`);
            return { llama, backend, fallbacks };
        } catch (error) {
            const reason = describeLoadError(backend, error);
            if (choice.requested !== "auto")
                throw new BackendUnavailableError(backend, reason, { candidates: choice.candidates, cause: error });
            fallbacks.push(`${backend}: ${reason}`);
            const next = attempts[index + 1];
            log.warn({ backend, reason, next }, next != null
                ? `the ${backend} backend failed to load; falling back to ${next}`
                : `the ${backend} backend failed to load and there is nothing left to fall back to`);
        }
    }
    throw new BackendUnavailableError("cpu", fallbacks.join("; "), {
        candidates: choice.candidates,
        message: `No llama.cpp backend could be loaded: ${fallbacks.join("; ")}`
    });
}

/** The chosen backend, then the usable candidates after it, then the CPU. */
function autoAttempts(choice: BackendChoice): GpuBackend[] {
    const start = gpuBackends.indexOf(choice.backend);
    const later = gpuBackends.slice(start + 1).filter((backend) =>
        backend === "cpu" || choice.candidates.some((entry) => entry.backend === backend && entry.usable));
    return [choice.backend, ...later];
}

async function loadBackend(backend: GpuBackend, candidate: BackendCandidate | undefined, log: RuntimeLog, options: LoadLlamaRuntimeOptions): Promise<Llama> {
    const load = options.getLlama ?? getLlama;
    const minimumLevel = options.logLevel ?? LlamaLogLevel.warn;
    const llama = await load({
        ...gpuOptionsFor(backend, candidate),
        build: "never",
        skipDownload: true,
        progressLogs: false,
        logLevel: minimumLevel,
        logger: (level, message) => forwardLlamaLog(log, backend, level, message)
    });
    try {
        await verifyLoadedBackend(backend, llama);
    } catch (error) {
        await llama.dispose();
        throw error;
    }
    return llama;
}

/**
 * node-llama-cpp 3.21.1 knows only "metal" | "cuda" | "vulkan" | false. A HIP (ROCm) build can still be
 * loaded: it is a local build made with `gpu: false` plus the CMake option GGML_HIP=ON, found by those
 * same options. Prebuilt binaries are switched off for it so the CPU prebuilt is never taken instead.
 */
function gpuOptionsFor(backend: GpuBackend, candidate: BackendCandidate | undefined): Pick<LlamaOptions, "gpu" | "cmakeOptions" | "usePrebuiltBinaries"> {
    if (backend === "rocm")
        return { gpu: false, cmakeOptions: candidate?.cmakeOptions ?? defaultHipCmakeOptions, usePrebuiltBinaries: false };
    return { gpu: gpuTypes[backend], usePrebuiltBinaries: true };
}

/** A binary can load yet run on no GPU (Vulkan without a device, a HIP build without /dev/kfd): catch that here. */
async function verifyLoadedBackend(backend: GpuBackend, llama: Llama): Promise<void> {
    if (backend === "cpu")
        return;
    // node-llama-cpp reports a ROCm device as GPU type "cuda" (llama.cpp's HIP backend reuses the CUDA code).
    const expected = backend === "vulkan" ? "vulkan" : "cuda";
    if (llama.gpu !== expected)
        throw new Error(`the binary loaded but its GPU type is ${String(llama.gpu)}, not ${expected}`);
    const devices = await llama.getGpuDeviceNames();
    if (devices.length === 0)
        throw new Error("the binary loaded but found no GPU device");
}

function describeLoadError(backend: GpuBackend, error: unknown): string {
    if (error instanceof NoBinaryFoundError) {
        if (backend === "rocm")
            return "node-llama-cpp found no local GGML_HIP build matching this node-llama-cpp/llama.cpp release";
        return `node-llama-cpp has no ${backend} binary that loads here (prebuilt binaries are tested in a child ` +
            "process first; this usually means a missing or too old GPU driver or runtime library)";
    }
    return error instanceof Error ? error.message : String(error);
}

function forwardLlamaLog(log: RuntimeLog, backend: GpuBackend, level: LlamaLogLevel, message: string): void {
    const text = message.trim();
    if (text === "")
        return;
    if (level === LlamaLogLevel.fatal || level === LlamaLogLevel.error || level === LlamaLogLevel.warn)
        log.warn({ backend, llamaCppLevel: level }, text);
    else
        log.info({ backend, llamaCppLevel: level }, text);
}
