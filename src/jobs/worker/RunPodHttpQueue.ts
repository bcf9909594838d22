import { packageInfo } from "../../util/packageInfo.js";
import { retryWithBackoff } from "../../util/retryWithBackoff.js";
import type { JobResultBody, RunPodJob, RunPodQueue, TakeResult } from "./RunPodQueue.js";
import type { RunPodWorkerSettings } from "./RunPodWorkerSettings.js";

export interface RunPodHttpQueueOptions {
    /** How long one job-take long poll may stay open, in ms. Defaults to 90 000 (RunPod's own worker uses 90 s). */
    takeTimeoutMs?: number;
    /** Per-attempt timeout of result, stream and ping requests, in ms. Defaults to 30 000. */
    requestTimeoutMs?: number;
    /** Retries of job-done and job-stream posts on network errors, 429 and 5xx. Defaults to 2 (3 attempts). */
    postRetries?: number;
    /** Wait before the first post retry, in ms, doubling after. Defaults to 1000. */
    postRetryBaseMs?: number;
}

/** A non-2xx answer from the queue; 429 and 5xx are worth a retry. */
class QueueHttpError extends Error {
    public readonly status: number;

    public constructor(what: string, status: number, detail: string) {
        super(`${what} answered HTTP ${status}${detail !== "" ? `: ${detail.slice(0, 200)}` : ""}`);
        this.name = "QueueHttpError";
        this.status = status;
    }
}

function withQuery(url: string, params: Record<string, string>): string {
    const query = new URLSearchParams(params).toString();
    if (query === "") return url;
    return `${url}${url.includes("?") ? "&" : "?"}${query}`;
}

function parseRetryAfter(value: string | null): number | undefined {
    if (value === null) return undefined;
    const seconds = Number(value);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(value);
    return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function isRetryablePostError(error: unknown): boolean {
    if (error instanceof QueueHttpError) return error.status === 429 || error.status >= 500;
    // fetch failures (resets, refused connections, timeouts) are TypeError/DOMException: retry them.
    return true;
}

/** Parses a job-take body: one job (the classic endpoint) or a list (the batch endpoint). */
function parseJobs(body: unknown): RunPodJob[] {
    const candidates = Array.isArray(body) ? body : [body];
    const jobs: RunPodJob[] = [];
    for (const candidate of candidates) {
        if (candidate === null || typeof candidate !== "object") throw new Error("job-take returned something that is not a job object");
        const record = candidate as Record<string, unknown>;
        const missing = ["id", "input"].filter((field) => record[field] === undefined || record[field] === null);
        if (missing.length > 0) throw new Error(`job-take returned a job with missing field(s): ${missing.join(", ")}`);
        if (typeof record.id !== "string" || record.id === "") throw new Error("job-take returned a job whose id is not a string");
        if (typeof record.input !== "object" || Array.isArray(record.input)) throw new Error(`job ${record.id}: input is not a JSON object`);
        jobs.push(record as RunPodJob);
    }
    return jobs;
}

/**
 * RunPod's worker protocol over HTTP, as runpod-python's serverless worker speaks it: GET job-take with
 * `job_in_progress=0|1`, POST job-done / job-stream with `isStream=true|false` and a JSON body, GET ping with
 * `job_id=<comma-separated ids>`; every request carries `Authorization: <RUNPOD_AI_API_KEY>`.
 */
export class RunPodHttpQueue implements RunPodQueue {
    private readonly settings: RunPodWorkerSettings;
    private readonly options: Required<RunPodHttpQueueOptions>;
    private readonly headers: Record<string, string>;

    public constructor(settings: RunPodWorkerSettings, options: RunPodHttpQueueOptions = {}) {
        this.settings = settings;
        this.options = {
            takeTimeoutMs: options.takeTimeoutMs ?? 90_000,
            requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
            postRetries: options.postRetries ?? 2,
            postRetryBaseMs: options.postRetryBaseMs ?? 1000
        };
        const info = packageInfo();
        this.headers = {
            "User-Agent": `${info.name}/${info.version}`,
            ...(settings.apiKey !== undefined ? { Authorization: settings.apiKey } : {})
        };
    }

    public async takeJob(options: { inProgress: boolean; signal: AbortSignal }): Promise<TakeResult> {
        const url = withQuery(this.settings.jobTakeUrl, { job_in_progress: options.inProgress ? "1" : "0" });
        const signal = AbortSignal.any([options.signal, AbortSignal.timeout(this.options.takeTimeoutMs)]);
        let response: Response;
        try {
            response = await fetch(url, { headers: { ...this.headers, Accept: "application/json" }, signal });
        } catch (error) {
            // The long poll timing out on our side just means nobody had a job for us.
            if (!options.signal.aborted && signal.aborted) return { kind: "none", reason: "long poll timed out" };
            throw error;
        }
        if (response.status === 204) return { kind: "none", reason: "HTTP 204" };
        if (response.status === 400) {
            await response.body?.cancel();
            return { kind: "none", reason: "HTTP 400 (FlashBoot)" };
        }
        if (response.status === 429) {
            await response.body?.cancel();
            return { kind: "throttled", retryAfterMs: parseRetryAfter(response.headers.get("retry-after")) };
        }
        const text = await response.text();
        if (!response.ok) throw new QueueHttpError("job-take", response.status, text);
        if (text.trim() === "") return { kind: "none", reason: "empty body" };
        let body: unknown;
        try {
            body = JSON.parse(text);
        } catch {
            return { kind: "none", reason: "body is not JSON" };
        }
        const jobs = parseJobs(body);
        return jobs.length > 0 ? { kind: "jobs", jobs } : { kind: "none", reason: "empty job list" };
    }

    public async postResult(jobId: string, body: JobResultBody, isStream: boolean): Promise<void> {
        const url = withQuery(this.settings.jobDoneUrl.replaceAll("$ID", jobId), { isStream: isStream ? "true" : "false" });
        await this.post("job-done", url, jobId, body);
    }

    public async postStream(jobId: string, output: unknown): Promise<boolean> {
        if (this.settings.jobStreamUrl === undefined) return false;
        const url = withQuery(this.settings.jobStreamUrl.replaceAll("$ID", jobId), { isStream: "false" });
        await this.post("job-stream", url, jobId, { output });
        return true;
    }

    public async ping(jobIds: readonly string[]): Promise<void> {
        if (this.settings.pingUrl === undefined) return;
        const url = withQuery(this.settings.pingUrl, jobIds.length > 0 ? { job_id: jobIds.join(",") } : {});
        const response = await fetch(url, { headers: this.headers, signal: AbortSignal.timeout(Math.min(this.options.requestTimeoutMs, this.settings.pingIntervalMs * 2)) });
        const text = await response.text();
        if (!response.ok) throw new QueueHttpError("ping", response.status, text);
    }

    private async post(what: string, url: string, jobId: string, body: unknown): Promise<void> {
        const payload = JSON.stringify(body);
        await retryWithBackoff(
            async () => {
                const response = await fetch(url, {
                    method: "POST",
                    // The same headers runpod-python sends: a JSON body labelled form-encoded, which RunPod's queue expects.
                    headers: { ...this.headers, "Content-Type": "application/x-www-form-urlencoded", charset: "utf-8", "X-Request-ID": jobId },
                    body: payload,
                    signal: AbortSignal.timeout(this.options.requestTimeoutMs)
                });
                const text = await response.text();
                if (!response.ok) throw new QueueHttpError(what, response.status, text);
            },
            { retries: this.options.postRetries, baseDelayMs: this.options.postRetryBaseMs, isRetryable: isRetryablePostError }
        );
    }
}
