import type { Readable } from "node:stream";
import type { File, Storage } from "@google-cloud/storage";
import { DownloadError } from "./DownloadError.js";
import { classifyNetworkError } from "./classifyNetworkError.js";
import type { ModelSource, SourceMetadata, SourceStream } from "./ModelSource.js";

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** `gs://bucket/key` through @google-cloud/storage; resumes pin the object generation the partial came from. */
export class GcsSource implements ModelSource {
    public readonly uri: string;
    public readonly location: string;
    public readonly fileName: string | undefined;
    public readonly known: SourceMetadata = {};
    private readonly storage: Storage;
    private readonly bucket: string;
    private readonly key: string;

    public constructor(options: { uri: string; bucket: string; key: string; storage: Storage; fileName?: string }) {
        this.uri = options.uri;
        this.bucket = options.bucket;
        this.key = options.key;
        this.storage = options.storage;
        this.fileName = options.fileName;
        this.location = `gs://${options.bucket}/${options.key}`;
    }

    public async open(offset: number, etag: string | undefined, signal: AbortSignal): Promise<SourceStream> {
        let file: File = this.storage.bucket(this.bucket).file(this.key);
        let metadata;
        try {
            [metadata] = await file.getMetadata();
        } catch (error) {
            if (signal.aborted) throw signal.reason ?? error;
            throw this.describe(error);
        }
        const generation = metadata.generation !== undefined ? String(metadata.generation) : undefined;
        // Our "etag" is the generation: a changed object has a new one, and the partial must be dropped.
        const start = offset > 0 && etag !== undefined && etag === generation ? offset : 0;
        if (generation !== undefined) file = this.storage.bucket(this.bucket).file(this.key, { generation: Number(generation) });
        const size = metadata.size !== undefined ? Number(metadata.size) : undefined;
        if (size !== undefined && start >= size && start > 0) return this.open(0, undefined, signal);
        const body: Readable = file.createReadStream({ start, validation: false, decompress: false });
        const onAbort = (): void => {
            body.destroy(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
        };
        signal.addEventListener("abort", onAbort, { once: true });
        body.once("close", () => signal.removeEventListener("abort", onAbort));
        const advertised = typeof metadata.metadata?.sha256 === "string" ? metadata.metadata.sha256.toLowerCase() : undefined;
        return {
            offset: start,
            size,
            etag: generation,
            sha256: advertised !== undefined && SHA256_HEX.test(advertised) ? advertised : undefined,
            body: this.translateErrors(body),
            close: () => body.destroy()
        };
    }

    private async *translateErrors(body: Readable): AsyncIterable<Uint8Array> {
        try {
            for await (const chunk of body) yield chunk as Uint8Array;
        } catch (error) {
            throw this.describe(error);
        }
    }

    private describe(error: unknown): DownloadError {
        const code = (error as { code?: unknown }).code;
        if (code === 404) return new DownloadError(this.location, "not found (HTTP 404)", { statusCode: 404, cause: error });
        if (code === 401 || code === 403) {
            return new DownloadError(this.location, `access denied (HTTP ${code}); check GOOGLE_APPLICATION_CREDENTIALS`, { statusCode: code, cause: error });
        }
        if (typeof code === "number") {
            const retryable = code === 408 || code === 429 || code >= 500;
            return new DownloadError(this.location, `GCS error (HTTP ${code}): ${(error as Error).message}`, { statusCode: code, retryable, cause: error });
        }
        return classifyNetworkError(this.location, error);
    }
}
