import type { ServiceConfig } from "../config/loadConfig.js";
import { retryWithBackoff } from "../util/retryWithBackoff.js";
import { describeGcsError, isTransientGcsError } from "./describeGcsError.js";
import { describeS3Error } from "./describeS3Error.js";
import { parseObjectUri } from "./parseObjectUri.js";
import { StorageError } from "./StorageError.js";

export interface ReadObjectOptions {
    signal?: AbortSignal;
    /** Larger objects are refused before they are read. Defaults to 256 MiB. */
    maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

function tooLarge(uri: string, size: number, maxBytes: number): StorageError {
    return new StorageError(uri, `object is ${size} bytes, more than the ${maxBytes}-byte limit`);
}

/**
 * Reads a whole object into memory: `s3://` with the storage.s3 settings, `gs://` with storage.gcs (GCS_RETRIES
 * apply), or `http(s)://`. Used for batch inputs (`batch_url`). The cloud SDKs are imported on first use.
 */
export async function readObject(uri: string, config: ServiceConfig, options: ReadObjectOptions = {}): Promise<Buffer> {
    const parsed = parseObjectUri(uri);
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    const signal = options.signal;
    switch (parsed.scheme) {
        case "s3": {
            const [{ GetObjectCommand }, { createS3StorageClient }] = await Promise.all([import("@aws-sdk/client-s3"), import("./createS3StorageClient.js")]);
            const client = createS3StorageClient(config.storage.s3);
            try {
                const response = await client.send(new GetObjectCommand({ Bucket: parsed.bucket, Key: parsed.key }), { abortSignal: signal });
                if (response.ContentLength !== undefined && response.ContentLength > maxBytes) {
                    await response.Body?.transformToWebStream().cancel();
                    throw tooLarge(uri, response.ContentLength, maxBytes);
                }
                const bytes = await response.Body?.transformToByteArray();
                if (bytes === undefined) throw new StorageError(uri, "empty response body", { retryable: true });
                return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
            } catch (error) {
                if (signal?.aborted === true) throw signal.reason ?? error;
                throw describeS3Error(uri, parsed.bucket, error);
            } finally {
                client.destroy();
            }
        }
        case "gs": {
            const { createGcsStorageClient } = await import("./createGcsStorageClient.js");
            const gcs = config.storage.gcs;
            const file = createGcsStorageClient(gcs).bucket(parsed.bucket).file(parsed.key);
            return retryWithBackoff(
                async () => {
                    try {
                        const [metadata] = await file.getMetadata();
                        const size = Number(metadata.size ?? 0);
                        if (size > maxBytes) throw tooLarge(uri, size, maxBytes);
                        const [contents] = await file.download({ validation: gcs.validate ? "crc32c" : false });
                        return contents;
                    } catch (error) {
                        throw describeGcsError(uri, parsed.bucket, error);
                    }
                },
                { retries: gcs.retries, baseDelayMs: gcs.retryBaseSleepSeconds * 1000, isRetryable: isTransientGcsError, signal }
            );
        }
        case "http":
            return readHttp(parsed.url, uri, maxBytes, signal);
    }
}

async function readHttp(url: URL, uri: string, maxBytes: number, signal: AbortSignal | undefined): Promise<Buffer> {
    let response: Response;
    try {
        response = await fetch(url, { signal, redirect: "follow" });
    } catch (error) {
        if (signal?.aborted === true) throw signal.reason ?? error;
        throw new StorageError(uri, `request failed: ${(error as Error).message}`, { retryable: true, cause: error });
    }
    if (!response.ok) {
        await response.body?.cancel();
        throw new StorageError(uri, `HTTP ${response.status} ${response.statusText}`, { statusCode: response.status, retryable: response.status === 429 || response.status >= 500 });
    }
    const declared = Number(response.headers.get("content-length") ?? Number.NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
        await response.body?.cancel();
        throw tooLarge(uri, declared, maxBytes);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    if (response.body !== null) {
        for await (const chunk of response.body) {
            total += chunk.byteLength;
            if (total > maxBytes) {
                await response.body.cancel().catch(() => undefined);
                throw tooLarge(uri, total, maxBytes);
            }
            chunks.push(Buffer.from(chunk));
        }
    }
    return Buffer.concat(chunks);
}
