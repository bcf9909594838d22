import { createHash } from "node:crypto";
import { CRC32C, type File, type Storage } from "@google-cloud/storage";
import { retryWithBackoff } from "../util/retryWithBackoff.js";
import { buildObjectKey, documentContentType } from "./buildObjectKey.js";
import { describeGcsError, isTransientGcsError } from "./describeGcsError.js";
import type { JobDocument, OutputSink, SinkHealth, SinkResult } from "./OutputSink.js";
import { StorageConfigError } from "./StorageConfigError.js";
import { StorageError } from "./StorageError.js";

/** V4 signed URLs live at most seven days. */
export const MAX_SIGNED_URL_TTL_SECONDS = 7 * 24 * 3600;

export interface GcsSinkOptions {
    storage: Storage;
    bucket: string;
    /** Object name prefix (GCS_PREFIX); objects go to `<prefix>/<yyyy>/<mm>/<dd>/<jobId>.<json|jsonl>`. */
    prefix: string;
    /** Attempts after the first for transient failures (GCS_RETRIES). */
    retries: number;
    /** Wait before the first retry, in seconds, doubling each time (GCS_RETRY_BASE_SLEEP). */
    retryBaseSleepSeconds: number;
    /** Upload with the `publicRead` ACL and return the object's public URL (GCS_PUBLIC). */
    public: boolean;
    /** > 0: return a V4 signed read URL valid this long (GCS_SIGNED_URL_TTL). */
    signedUrlTtlSeconds: number;
    /** Compare the stored object's MD5/CRC32C with ours; a mismatch is retried (GCS_VALIDATE). */
    validate: boolean;
    /** Base of public object URLs; defaults to https://storage.googleapis.com. */
    publicBaseUrl?: string;
    /** How long `health()` waits for the bucket to answer. Defaults to 5000 ms. */
    healthTimeoutMs?: number;
    /** Told about each retry (for logs). */
    onRetry?(error: unknown, attempt: number, delayMs: number): void;
}

function crc32cOf(data: Buffer): string {
    const crc = new CRC32C();
    crc.update(data);
    return crc.toString();
}

interface Checksums {
    md5: string;
    crc32c: string;
}

/** `gcs`: uploads the document to Google Cloud Storage with our own retries, optional ACL, checksum check and signed URL. */
export class GcsSink implements OutputSink {
    public readonly mode = "gcs" as const;
    private readonly options: GcsSinkOptions;

    public constructor(options: GcsSinkOptions) {
        this.options = options;
    }

    public async write(document: JobDocument, signal?: AbortSignal): Promise<SinkResult> {
        const { storage, bucket, prefix } = this.options;
        const key = buildObjectKey(prefix, document);
        const uri = `gs://${bucket}/${key}`;
        const body = Buffer.from(document.body, "utf8");
        const ours: Checksums = {
            md5: createHash("md5").update(body).digest("base64"),
            crc32c: crc32cOf(body)
        };
        const file = storage.bucket(bucket).file(key);
        await retryWithBackoff(
            async () => {
                try {
                    await file.save(body, {
                        resumable: false,
                        // Checked below against our own hashes, so the retry policy covers a mismatch too.
                        validation: false,
                        contentType: documentContentType(document.format),
                        metadata: { contentType: documentContentType(document.format), metadata: { "mentator-job-id": document.jobId } },
                        ...(this.options.public ? { predefinedAcl: "publicRead" as const } : {})
                    });
                } catch (error) {
                    throw describeGcsError(uri, bucket, error);
                }
                if (this.options.validate) await this.verifyChecksums(file, uri, ours);
            },
            {
                retries: this.options.retries,
                baseDelayMs: this.options.retryBaseSleepSeconds * 1000,
                isRetryable: isTransientGcsError,
                onRetry: this.options.onRetry,
                signal
            }
        ).catch((error: unknown) => {
            if (signal?.aborted === true) throw error;
            if (error instanceof StorageError && error.retryable) {
                throw new StorageError(uri, `upload failed after ${this.options.retries + 1} attempts: ${error.message}`, { statusCode: error.statusCode, cause: error });
            }
            throw error;
        });
        const url = await this.linkFor(file, uri, key);
        return { mode: "gcs", output: { uri, ...(url !== undefined ? { url } : {}), bytes: body.length, format: document.format } };
    }

    public async health(): Promise<SinkHealth> {
        const timeoutMs = this.options.healthTimeoutMs ?? 5000;
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_resolve, reject) => {
            timer = setTimeout(() => reject(new Error("timed out")), timeoutMs);
        });
        try {
            // objects.list needs only read access to the bucket, which a writer of outputs usually has.
            await Promise.race([
                this.options.storage.bucket(this.options.bucket).getFiles({ prefix: this.options.prefix, maxResults: 1, autoPaginate: false }),
                timeout
            ]);
            return "ok";
        } catch {
            return "error";
        } finally {
            clearTimeout(timer);
        }
    }

    /** The stored object's hashes (from the upload response) must equal ours. */
    private async verifyChecksums(file: File, uri: string, ours: Checksums): Promise<void> {
        let stored = file.metadata;
        if (stored.md5Hash === undefined && stored.crc32c === undefined) {
            try {
                [stored] = await file.getMetadata();
            } catch (error) {
                throw describeGcsError(uri, this.options.bucket, error);
            }
        }
        const compared: string[] = [];
        if (stored.md5Hash !== undefined) {
            if (stored.md5Hash !== ours.md5) throw this.mismatch(uri, "MD5", stored.md5Hash, ours.md5);
            compared.push("md5");
        }
        if (stored.crc32c !== undefined) {
            if (stored.crc32c !== ours.crc32c) throw this.mismatch(uri, "CRC32C", stored.crc32c, ours.crc32c);
            compared.push("crc32c");
        }
        if (compared.length === 0) {
            throw new StorageError(uri, "cannot validate the upload: the object has neither md5Hash nor crc32c (set GCS_VALIDATE=false to skip the check)");
        }
    }

    private mismatch(uri: string, kind: string, stored: string, ours: string): StorageError {
        return new StorageError(uri, `${kind} of the stored object (${stored}) differs from the uploaded bytes (${ours})`, { retryable: true });
    }

    /** A signed URL when GCS_SIGNED_URL_TTL > 0, else the public URL when GCS_PUBLIC, else none. */
    private async linkFor(file: File, uri: string, key: string): Promise<string | undefined> {
        const ttl = this.options.signedUrlTtlSeconds;
        if (ttl > 0) {
            try {
                const [url] = await file.getSignedUrl({ version: "v4", action: "read", expires: Date.now() + ttl * 1000 });
                return url;
            } catch (error) {
                const described = describeGcsError(uri, this.options.bucket, error);
                const message = `uploaded ${uri} but could not sign a URL for it (GCS_SIGNED_URL_TTL=${ttl}): ${described.message}`;
                if (described instanceof StorageConfigError) throw new StorageConfigError(described.variable, message);
                throw new Error(message, { cause: described });
            }
        }
        if (this.options.public) {
            const base = this.options.publicBaseUrl ?? "https://storage.googleapis.com";
            return `${base}/${encodeURIComponent(this.options.bucket)}/${key.split("/").map(encodeURIComponent).join("/")}`;
        }
        return undefined;
    }
}
