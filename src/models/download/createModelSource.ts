import type { GcsSourceSettings } from "./GcsSource.js";
import { HttpSource } from "./HttpSource.js";
import type { ModelSource } from "./ModelSource.js";
import { parseModelUri, suggestedFileName } from "./parseModelUri.js";
import { resolveHfSource, type HfSettings } from "./resolveHfSource.js";
import type { S3SourceSettings } from "./S3Source.js";

/** Where the sources find their endpoints and credentials (from the service config). */
export interface SourceSettings {
    hf: HfSettings;
    s3: S3SourceSettings;
    gcs: GcsSourceSettings;
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
            const { S3Source, createS3Client } = await import("./S3Source.js");
            return new S3Source({ uri: parsed.uri, bucket: parsed.bucket, key: parsed.key, client: createS3Client(settings.s3), fileName: suggestedFileName(parsed) });
        }
        case "gs": {
            const { GcsSource, createGcsStorage } = await import("./GcsSource.js");
            return new GcsSource({ uri: parsed.uri, bucket: parsed.bucket, key: parsed.key, storage: createGcsStorage(settings.gcs), fileName: suggestedFileName(parsed) });
        }
    }
}
