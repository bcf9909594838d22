import { S3Client } from "@aws-sdk/client-s3";
import type { ServiceConfig } from "../config/loadConfig.js";
import { StorageConfigError } from "./StorageConfigError.js";

export type S3StorageSettings = ServiceConfig["storage"]["s3"];

/** Attempts per request, the SDK's standard retry mode (429, 5xx, throttling and network errors, with backoff). */
const S3_MAX_ATTEMPTS = 3;

/** Both halves of an explicit key pair, or neither (then the AWS default chain applies). */
function explicitCredentials(settings: S3StorageSettings): { accessKeyId: string; secretAccessKey: string } | undefined {
    const id = settings.accessKeyId ?? "";
    const secret = settings.secretAccessKey ?? "";
    if (id === "" && secret === "") return undefined;
    if (id === "") {
        throw new StorageConfigError("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY is set but S3_ACCESS_KEY_ID is not (also accepted: CLOUDRU_S3_ACCESS_KEY_ID, storage.s3.accessKeyId)");
    }
    if (secret === "") {
        throw new StorageConfigError("S3_SECRET_ACCESS_KEY", "S3_ACCESS_KEY_ID is set but S3_SECRET_ACCESS_KEY is not (also accepted: CLOUDRU_S3_SECRET_ACCESS_KEY, storage.s3.secretAccessKey)");
    }
    return { accessKeyId: id, secretAccessKey: secret };
}

/** The bucket output uploads go to; a clear error naming S3_BUCKET when there is none. */
export function requireS3Bucket(settings: S3StorageSettings): string {
    const bucket = settings.bucket ?? "";
    if (bucket === "") {
        throw new StorageConfigError("S3_BUCKET", "output mode s3 needs a bucket: set S3_BUCKET (or CLOUDRU_S3_BUCKET, or storage.s3.bucket in the config)");
    }
    return bucket;
}

/** An S3 client for job outputs and batch inputs, from `storage.s3` (endpoint, region, path style, keys). */
export function createS3StorageClient(settings: S3StorageSettings): S3Client {
    // Node 20 is a supported runtime here; the SDK's "upgrade Node" notice would only clutter command output.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    return new S3Client({
        region: settings.region,
        endpoint: settings.endpoint !== undefined && settings.endpoint !== "" ? settings.endpoint : undefined,
        forcePathStyle: settings.forcePathStyle,
        credentials: explicitCredentials(settings),
        maxAttempts: S3_MAX_ATTEMPTS,
        retryMode: "standard",
        // S3-compatible stores (Cloud.ru, MinIO, older clones) reject or ignore the SDK's newer flexible checksums;
        // uploads carry Content-MD5 instead, which every implementation verifies.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED"
    });
}
