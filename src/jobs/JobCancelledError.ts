/** Abort reason of a job stopped by /cancel (or purge); its status is already CANCELLED. */
export class JobCancelledError extends Error {
    public constructor() {
        super("job cancelled");
        this.name = "JobCancelledError";
    }
}
