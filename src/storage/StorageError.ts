/** A storage request failed: an upload, a read or a signed-URL request. */
export class StorageError extends Error {
    /** The object (s3://, gs://, https://) the request was about. */
    public readonly location: string;
    /** HTTP status from the storage service, when there was one. */
    public readonly statusCode: number | undefined;
    /** True for transient failures (429, 5xx, resets, timeouts) worth another attempt. */
    public readonly retryable: boolean;

    public constructor(location: string, message: string, options: { statusCode?: number; retryable?: boolean; cause?: unknown } = {}) {
        super(`${message} (${location})`, { cause: options.cause });
        this.name = "StorageError";
        this.location = location;
        this.statusCode = options.statusCode;
        this.retryable = options.retryable ?? false;
    }
}
