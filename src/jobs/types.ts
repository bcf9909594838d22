import type { OutputMode } from "../storage/OutputSink.js";

/** RunPod's job statuses. */
export type JobStatus = "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED" | "FAILED" | "CANCELLED" | "TIMED_OUT";

/**
 * What a job asks for (SERVICE.md "Job input"): one OpenAI request (`openai_route` + `openai_input`),
 * the short form (`messages` | `prompt` + `sampling_params`), or a batch (`batch` | `batch_url`).
 * Parsed and validated by the job runner; kept as unknown at the HTTP boundary.
 */
export type JobInput = Record<string, unknown>;

export interface JobRunOptions {
    /** Output mode override (request field `output`, env OUTPUT_MODE, CLI --output). */
    output?: OutputMode;
    /** Partial outputs for `stream: true` jobs, in order. */
    onPartial?(chunk: unknown): void;
    signal: AbortSignal;
}
