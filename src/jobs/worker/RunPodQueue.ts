import type { JobInput } from "../types.js";

/** A job as RunPod's job-take hands it out: `id` and `input`, plus fields we pass through (webhook, policy...). */
export interface RunPodJob {
    id: string;
    input: JobInput;
    [field: string]: unknown;
}

export type TakeResult =
    | { kind: "jobs"; jobs: RunPodJob[] }
    /** 204, 400 (FlashBoot warm-up), an empty body or a non-JSON body: nothing to do right now. */
    | { kind: "none"; reason: string }
    /** 429: wait before asking again (`Retry-After` when the queue sent one). */
    | { kind: "throttled"; retryAfterMs: number | undefined };

/** What job-done receives: the output, or an error message. */
export type JobResultBody = { output: unknown } | { error: string };

/** The RunPod Serverless queue as a worker sees it. */
export interface RunPodQueue {
    /** One job-take long poll; `inProgress` sets the `job_in_progress` flag. */
    takeJob(options: { inProgress: boolean; signal: AbortSignal }): Promise<TakeResult>;
    /** job-done for one job; `isStream` tells RunPod that partial outputs were streamed. */
    postResult(jobId: string, body: JobResultBody, isStream: boolean): Promise<void>;
    /** One partial output of a streaming job; false when no stream URL is configured. */
    postStream(jobId: string, output: unknown): Promise<boolean>;
    /** Heartbeat carrying the ids of the jobs in progress. */
    ping(jobIds: readonly string[]): Promise<void>;
}
