import { randomUUID } from "node:crypto";
import { ConfigError } from "../../config/ConfigError.js";

/** Where a RunPod Serverless worker takes jobs and sends results, from the RUNPOD_* variables RunPod sets. */
export interface RunPodWorkerSettings {
    /** Job-take URL with `$ID` / `$RUNPOD_POD_ID` already replaced by the worker id (RUNPOD_WEBHOOK_GET_JOB). */
    jobTakeUrl: string;
    /** Job-done URL template; `$ID` is replaced per job (RUNPOD_WEBHOOK_POST_OUTPUT). */
    jobDoneUrl: string;
    /** Partial-output URL template; `$ID` is replaced per job (RUNPOD_WEBHOOK_POST_STREAM). Without it partial outputs are not sent. */
    jobStreamUrl: string | undefined;
    /** Heartbeat URL (RUNPOD_WEBHOOK_PING). Without it no heartbeat is sent. */
    pingUrl: string | undefined;
    /** Heartbeat period in ms (RUNPOD_PING_INTERVAL). Defaults to 10 000. */
    pingIntervalMs: number;
    /** Sent as-is in the `Authorization` header (RUNPOD_AI_API_KEY). */
    apiKey: string | undefined;
    /** RUNPOD_POD_ID, else a random id for this process. */
    workerId: string;
}

const DEFAULT_PING_INTERVAL_MS = 10_000;

function nonEmpty(value: string | undefined): string | undefined {
    return value !== undefined && value.trim() !== "" ? value.trim() : undefined;
}

function checkUrl(variable: string, value: string): void {
    // The templates hold `$ID`; check the URL with a stand-in id.
    let url: URL;
    try {
        url = new URL(value.replaceAll("$RUNPOD_POD_ID", "pod").replaceAll("$ID", "id"));
    } catch {
        throw new ConfigError([`${variable} is not a URL: ${JSON.stringify(value)}`]);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError([`${variable} must be an http(s) URL, got ${url.protocol}`]);
}

/** True when RunPod's job queue is configured (not local test mode). */
export function hasRunPodQueue(env: NodeJS.ProcessEnv): boolean {
    return nonEmpty(env.RUNPOD_WEBHOOK_GET_JOB) !== undefined;
}

/** Reads the RUNPOD_* variables; a missing job-done URL or a malformed value is a ConfigError naming the variable. */
export function readRunPodWorkerSettings(env: NodeJS.ProcessEnv): RunPodWorkerSettings {
    const take = nonEmpty(env.RUNPOD_WEBHOOK_GET_JOB);
    if (take === undefined) throw new ConfigError(["RUNPOD_WEBHOOK_GET_JOB is not set: `mentator worker` takes jobs from RunPod's queue (or use --test-input)"]);
    const done = nonEmpty(env.RUNPOD_WEBHOOK_POST_OUTPUT);
    if (done === undefined) throw new ConfigError(["RUNPOD_WEBHOOK_POST_OUTPUT is not set: the worker has nowhere to send job results"]);
    const stream = nonEmpty(env.RUNPOD_WEBHOOK_POST_STREAM);
    const ping = nonEmpty(env.RUNPOD_WEBHOOK_PING);
    for (const [variable, value] of [
        ["RUNPOD_WEBHOOK_GET_JOB", take],
        ["RUNPOD_WEBHOOK_POST_OUTPUT", done],
        ["RUNPOD_WEBHOOK_POST_STREAM", stream],
        ["RUNPOD_WEBHOOK_PING", ping]
    ] as const) {
        if (value !== undefined) checkUrl(variable, value);
    }
    const intervalText = nonEmpty(env.RUNPOD_PING_INTERVAL);
    const pingIntervalMs = intervalText === undefined ? DEFAULT_PING_INTERVAL_MS : Number(intervalText);
    if (!Number.isInteger(pingIntervalMs) || pingIntervalMs < 100) {
        throw new ConfigError([`RUNPOD_PING_INTERVAL must be a whole number of milliseconds >= 100, got ${JSON.stringify(intervalText)}`]);
    }
    const workerId = nonEmpty(env.RUNPOD_POD_ID) ?? randomUUID();
    const forWorker = (url: string): string => url.replaceAll("$RUNPOD_POD_ID", workerId);
    return {
        jobTakeUrl: forWorker(take).replaceAll("$ID", workerId),
        jobDoneUrl: forWorker(done),
        jobStreamUrl: stream !== undefined ? forWorker(stream) : undefined,
        pingUrl: ping !== undefined ? forWorker(ping) : undefined,
        pingIntervalMs,
        apiKey: nonEmpty(env.RUNPOD_AI_API_KEY),
        workerId
    };
}
