/** Abort reason of jobs the worker hands back to the queue because it is shutting down (SIGTERM). */
export class WorkerStoppedError extends Error {
    public constructor() {
        super("worker shutting down; job handed back to the queue");
        this.name = "WorkerStoppedError";
    }
}
