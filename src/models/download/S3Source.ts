import type { Readable } from "node:stream";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { httpStatusOf } from "../../storage/describeS3Error.js";
import { DownloadError } from "./DownloadError.js";
import { classifyNetworkError } from "./classifyNetworkError.js";
import type { ModelSource, SourceMetadata, SourceStream } from "./ModelSource.js";

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** `s3://bucket/key` through the AWS SDK: ranged GetObject with If-Match for resume. */
export class S3Source implements ModelSource {
    public readonly uri: string;
    public readonly location: string;
    public readonly fileName: string | undefined;
    public readonly known: SourceMetadata = {};
    private readonly client: S3Client;
    private readonly bucket: string;
    private readonly key: string;

    public constructor(options: { uri: string; bucket: string; key: string; client: S3Client; fileName?: string }) {
        this.uri = options.uri;
        this.bucket = options.bucket;
        this.key = options.key;
        this.client = options.client;
        this.fileName = options.fileName;
        this.location = `s3://${options.bucket}/${options.key}`;
    }

    public async open(offset: number, etag: string | undefined, signal: AbortSignal): Promise<SourceStream> {
        const ranged = offset > 0;
        let output;
        try {
            output = await this.client.send(
                new GetObjectCommand({
                    Bucket: this.bucket,
                    Key: this.key,
                    Range: ranged ? `bytes=${offset}-` : undefined,
                    IfMatch: ranged ? etag : undefined
                }),
                { abortSignal: signal }
            );
        } catch (error) {
            if (signal.aborted) throw signal.reason ?? error;
            const status = httpStatusOf(error);
            // 412: the object changed since the partial was written; 416: the partial is complete or too long.
            if (ranged && (status === 412 || status === 416)) return this.open(0, undefined, signal);
            throw this.describe(error, status);
        }
        const body = output.Body as Readable | undefined;
        if (body === undefined) throw new DownloadError(this.location, "empty response body", { retryable: true });
        let start = 0;
        let size = output.ContentLength;
        const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(output.ContentRange ?? "");
        if (range !== null) {
            start = Number(range[1]);
            size = range[3] === "*" ? undefined : Number(range[3]);
        }
        if (ranged && range === null) start = 0; // the range was ignored: the body is the whole object
        if (start !== 0 && start !== offset) {
            body.destroy();
            throw new DownloadError(this.location, `unexpected Content-Range "${output.ContentRange ?? ""}"`);
        }
        const advertised = output.Metadata?.sha256?.toLowerCase();
        return {
            offset: start,
            size,
            etag: output.ETag,
            sha256: advertised !== undefined && SHA256_HEX.test(advertised) ? advertised : undefined,
            body,
            close: () => body.destroy()
        };
    }

    private describe(error: unknown, status: number | undefined): DownloadError {
        const name = (error as { name?: string }).name ?? "";
        if (status === 404 || name === "NoSuchKey" || name === "NoSuchBucket") {
            return new DownloadError(this.location, `not found (${name !== "" ? name : `HTTP ${status ?? 404}`})`, { statusCode: 404, cause: error });
        }
        if (status === 401 || status === 403) {
            return new DownloadError(this.location, `access denied (HTTP ${status}); check S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY and S3_ENDPOINT`, {
                statusCode: status,
                cause: error
            });
        }
        if (status !== undefined) {
            const retryable = status === 408 || status === 429 || status >= 500;
            return new DownloadError(this.location, `S3 error ${name} (HTTP ${status}): ${(error as Error).message}`, { statusCode: status, retryable, cause: error });
        }
        return classifyNetworkError(this.location, error);
    }
}
