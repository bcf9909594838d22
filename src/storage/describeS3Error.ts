import { StorageConfigError } from "./StorageConfigError.js";
import { StorageError } from "./StorageError.js";

/** Turns an AWS SDK failure into an error that says what to check (bucket, keys, endpoint). */
export function describeS3Error(location: string, bucket: string, error: unknown): Error {
    if (error instanceof StorageConfigError || error instanceof StorageError) return error;
    const name = (error as { name?: unknown }).name;
    const message = error instanceof Error ? error.message : String(error);
    if (name === "CredentialsProviderError") {
        return new StorageConfigError(
            "S3_ACCESS_KEY_ID",
            `no S3 credentials: set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (or CLOUDRU_S3_*), or provide AWS credentials (${message})`
        );
    }
    const status = httpStatusOf(error);
    if (name === "NoSuchBucket") return new StorageError(location, `bucket "${bucket}" does not exist; check S3_BUCKET and S3_ENDPOINT`, { statusCode: status, cause: error });
    if (name === "NoSuchKey" || status === 404) return new StorageError(location, "not found", { statusCode: 404, cause: error });
    if (status === 401 || status === 403) {
        return new StorageError(location, `access denied (HTTP ${status}); check S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY and S3_ENDPOINT`, { statusCode: status, cause: error });
    }
    if (status !== undefined) {
        return new StorageError(location, `S3 error ${String(name)} (HTTP ${status}): ${message}`, { statusCode: status, retryable: status === 429 || status >= 500, cause: error });
    }
    return new StorageError(location, `S3 request failed: ${message}`, { retryable: true, cause: error });
}

/** The HTTP status of an AWS SDK service error (`$metadata.httpStatusCode`); checked by shape so the SDK loads lazily. */
export function httpStatusOf(error: unknown): number | undefined {
    const metadata = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata;
    return typeof metadata?.httpStatusCode === "number" ? metadata.httpStatusCode : undefined;
}
