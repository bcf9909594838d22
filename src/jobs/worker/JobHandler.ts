import type { JobInput, JobRunOptions } from "../types.js";

/** One job as the worker hands it to the runner. */
export interface WorkerJob {
    id: string;
    input: JobInput;
}

/** Runs one job to its output (what job-done's `output` receives); throws with a message on failure. */
export type JobHandler = (job: WorkerJob, options: JobRunOptions) => Promise<unknown>;
