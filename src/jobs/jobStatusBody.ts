import type { JobRecord } from "./JobStore.js";
import type { JobStatus } from "./types.js";

/** RunPod's job status body: `id`, `status`, then `delayTime`/`executionTime` (ms), `output` or `error` as they apply. */
export interface JobStatusBody {
    id: string;
    status: JobStatus;
    delayTime?: number;
    executionTime?: number;
    output?: unknown;
    error?: string;
    retries?: number;
}

export function jobStatusBody(job: JobRecord): JobStatusBody {
    const body: JobStatusBody = { id: job.id, status: job.status };
    if (job.delayTimeMs !== undefined) body.delayTime = job.delayTimeMs;
    if (job.executionTimeMs !== undefined) body.executionTime = job.executionTimeMs;
    if (job.status === "COMPLETED") body.output = job.output;
    if ((job.status === "FAILED" || job.status === "TIMED_OUT") && job.error !== undefined) body.error = job.error;
    if (job.retried > 0) body.retries = job.retried;
    return body;
}
