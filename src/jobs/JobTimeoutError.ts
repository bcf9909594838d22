/** The job ran longer than its executionTimeout; it ends TIMED_OUT. */
export class JobTimeoutError extends Error {
    public readonly timeoutMs: number;

    public constructor(timeoutMs: number) {
        super(`job execution timed out after ${timeoutMs} ms (policy.executionTimeout)`);
        this.name = "JobTimeoutError";
        this.timeoutMs = timeoutMs;
    }
}
