import type { BackendCandidate, GpuBackend } from "./types.js";

/** A backend that was asked for (or, under `auto`, every backend) cannot be used. */
export class BackendUnavailableError extends Error {
    public readonly backend: GpuBackend;
    public readonly reason: string;
    /** What detection concluded for every backend, when known. */
    public readonly candidates: BackendCandidate[];

    public constructor(backend: GpuBackend, reason: string, options: { candidates?: BackendCandidate[]; message?: string; cause?: unknown } = {}) {
        super(options.message ?? `The ${backend} backend is unavailable: ${reason}`, options.cause !== undefined ? { cause: options.cause } : undefined);
        this.name = "BackendUnavailableError";
        this.backend = backend;
        this.reason = reason;
        this.candidates = options.candidates ?? [];
    }
}
