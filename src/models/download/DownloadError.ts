/** A download failed; `retryable` marks transient failures (5xx, 429, resets, timeouts). */
export class DownloadError extends Error {
    /** The URL (or s3://, gs:// URI) that failed, for the message and logs. */
    public readonly location: string;
    /** HTTP status from the source, when there was one. */
    public readonly statusCode: number | undefined;
    public readonly retryable: boolean;

    public constructor(location: string, message: string, options: { statusCode?: number; retryable?: boolean; cause?: unknown } = {}) {
        super(`${message} (${location})`, { cause: options.cause });
        this.name = "DownloadError";
        this.location = location;
        this.statusCode = options.statusCode;
        this.retryable = options.retryable ?? false;
    }
}
