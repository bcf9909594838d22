import { HttpSource } from "./HttpSource.js";
import type { ModelSource } from "./ModelSource.js";
import { parseModelUri, suggestedFileName } from "./parseModelUri.js";
import { resolveHfSource, type HfSettings } from "./resolveHfSource.js";
import type { GcsConnectionSettings } from "../../storage/createGcsStorageClient.js";
import type { S3ConnectionSettings } from "../../storage/createS3StorageClient.js";

/** Where the sources find their endpoints and credentials (from the service config). */
export interface SourceSettings {
    hf: HfSettings;
    s3: S3ConnectionSettings;
    gcs: GcsConnectionSettings;
}

/**
 * Picks the source for a URI's scheme; `hf:owner/repo:QUANT` lists the repository first. The cloud SDKs are
 * imported only when their scheme is used: together they add almost half a second to every CLI start.
 */
export async function createModelSource(uri: string, settings: SourceSettings, signal: AbortSignal): Promise<ModelSource> {
    const parsed = parseModelUri(uri);
    switch (parsed.scheme) {
        case "http":
            return new HttpSource({ uri: parsed.uri, url: parsed.url.href, fileName: suggestedFileName(parsed) });
        case "hf":
            return resolveHfSource(parsed, settings.hf, signal);
        case "s3": {
            const [{ S3Source }, { createS3StorageClient }] = await Promise.all([import("./S3Source.js"), import("../../storage/createS3StorageClient.js")]);
            // One attempt per request: the download loop retries and resumes with its own back-off.
            const client = createS3StorageClient(settings.s3, { maxAttempts: 1 });
            return new S3Source({ uri: parsed.uri, bucket: parsed.bucket, key: parsed.key, client, fileName: suggestedFileName(parsed) });
        }
        case "gs": {
            const [{ GcsSource }, { createGcsStorageClient }] = await Promise.all([import("./GcsSource.js"), import("../../storage/createGcsStorageClient.js")]);
            const storage = createGcsStorageClient(settings.gcs);
            return new GcsSource({ uri: parsed.uri, bucket: parsed.bucket, key: parsed.key, storage, fileName: suggestedFileName(parsed) });
        }
    }
}
