import { BackendUnavailableError } from "./BackendUnavailableError.js";
import { evaluateBackends } from "./evaluateBackends.js";
import { gpuBackends, type BackendChoice, type GpuRequest, type HardwareReport } from "./types.js";

/**
 * Picks the backend to hand to node-llama-cpp. `auto` takes the first usable one in the order
 * CUDA, ROCm, Vulkan, CPU; a forced backend must be usable or a BackendUnavailableError says why.
 */
export function chooseBackend(report: HardwareReport, requested: GpuRequest): BackendChoice {
    const candidates = evaluateBackends(report);

    if (requested !== "auto") {
        const candidate = candidates.find((entry) => entry.backend === requested);
        if (candidate == null || !candidate.usable)
            throw new BackendUnavailableError(requested, candidate?.reason ?? "unknown backend", { candidates });
        return { requested, backend: requested, reason: `forced (gpu=${requested}): ${candidate.reason}`, candidates };
    }

    const chosen = candidates.find((entry) => entry.usable);
    if (chosen == null) {
        const reasons = candidates.map((entry) => `${entry.backend}: ${entry.reason}`).join("; ");
        throw new BackendUnavailableError("cpu", reasons, { candidates, message: `No backend is usable, not even the CPU: ${reasons}` });
    }
    const skipped = candidates.slice(0, candidates.indexOf(chosen)).map((entry) => entry.backend);
    return {
        requested,
        backend: chosen.backend,
        reason: `auto (order ${gpuBackends.join(" > ")}): ${chosen.backend}` +
            (skipped.length > 0 ? ` (${skipped.join(", ")} not usable)` : "") + `: ${chosen.reason}`,
        candidates
    };
}
