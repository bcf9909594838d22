/** What a source says about the object it serves. */
export interface SourceMetadata {
    /** Total size in bytes, when the source says. */
    size?: number;
    /** Identifies this exact version of the object (ETag, generation); a resume against another version restarts. */
    etag?: string;
    /** sha256 the source advertises (Hugging Face LFS ETag, S3/GCS object metadata), lower-case hex. */
    sha256?: string;
}

/** An open download: the body from `offset` on. */
export interface SourceStream extends SourceMetadata {
    /** Where the body starts: the offset asked for, or 0 when the source sent the whole object instead. */
    offset: number;
    body: AsyncIterable<Uint8Array>;
    /** Stops the transfer and frees the connection. Safe to call twice. */
    close(): void;
}

/** One remote object a model can be downloaded from (https, Hugging Face, S3, GCS). */
export interface ModelSource {
    /** The URI as the user wrote it (recorded in the lock file). */
    readonly uri: string;
    /** The concrete URL or object address, for messages. */
    readonly location: string;
    /** File name the source suggests, when it names one. */
    readonly fileName: string | undefined;
    /** Facts known before opening (from a listing), merged with what `open` reports. */
    readonly known: SourceMetadata;
    /**
     * Opens the object from `offset`. `etag` is the version a partial file came from: when the object changed
     * the source answers from 0 (the stream's `offset` is 0). Throws DownloadError (with `retryable`).
     */
    open(offset: number, etag: string | undefined, signal: AbortSignal): Promise<SourceStream>;
}
