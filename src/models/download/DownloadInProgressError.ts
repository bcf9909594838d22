/** Another process (or request) is downloading to the same target right now. */
export class DownloadInProgressError extends Error {
    public readonly path: string;

    public constructor(path: string, owner: string) {
        super(`${path} is being downloaded by ${owner}; wait for it to finish`);
        this.name = "DownloadInProgressError";
        this.path = path;
    }
}
