import type { JobStatus } from "./types.js";

/** The operation does not apply to a job in its current status (retrying a COMPLETED job). */
export class JobStateError extends Error {
    public readonly status: JobStatus;

    public constructor(message: string, status: JobStatus) {
        super(message);
        this.name = "JobStateError";
        this.status = status;
    }
}
