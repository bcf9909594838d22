/** No job with this id on this endpoint (never submitted, purged after its TTL, or purged from the queue). */
export class JobNotFoundError extends Error {
    public readonly jobId: string;

    public constructor(endpoint: string, jobId: string) {
        super(`job "${jobId}" not found on endpoint "${endpoint}" (finished jobs are deleted after their TTL)`);
        this.name = "JobNotFoundError";
        this.jobId = jobId;
    }
}
