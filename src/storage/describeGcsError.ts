import { StorageConfigError } from "./StorageConfigError.js";
import { StorageError } from "./StorageError.js";
import { findErrorCode } from "../util/findErrorCode.js";

/** Socket-level failures worth another attempt. */
const TRANSIENT_NETWORK_CODES = new Set([
    "ECONNRESET",
    "ECONNREFUSED",
    "ECONNABORTED",
    "EPIPE",
    "ETIMEDOUT",
    "ESOCKETTIMEDOUT",
    "EAI_AGAIN",
    "ENETUNREACH",
    "EHOSTUNREACH",
    "UND_ERR_SOCKET",
    "ERR_STREAM_PREMATURE_CLOSE"
]);

function statusOf(error: unknown): number | undefined {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === "number" ? code : undefined;
}


/** 408, 429 and 5xx answers, rate-limit reasons, and connection resets/timeouts are transient. */
export function isTransientGcsError(error: unknown): boolean {
    if (error instanceof StorageError) return error.retryable;
    if (error instanceof StorageConfigError) return false;
    const status = statusOf(error);
    if (status !== undefined) return status === 408 || status === 429 || status >= 500;
    const reasons = (error as { errors?: Array<{ reason?: unknown }> } | null)?.errors;
    if (Array.isArray(reasons) && reasons.some((entry) => entry.reason === "rateLimitExceeded" || entry.reason === "userRateLimitExceeded")) return true;
    const code = findErrorCode(error);
    if (code !== undefined) return TRANSIENT_NETWORK_CODES.has(code);
    return /socket hang up|ECONNRESET|network|timed? ?out/i.test(error instanceof Error ? error.message : String(error));
}

/** Turns a @google-cloud/storage failure into an error that says what to check. */
export function describeGcsError(location: string, bucket: string, error: unknown): Error {
    if (error instanceof StorageConfigError || error instanceof StorageError) return error;
    const message = error instanceof Error ? error.message : String(error);
    if (/default credentials|client_email|private_key|Cannot sign data/i.test(message)) {
        return new StorageConfigError(
            "GOOGLE_APPLICATION_CREDENTIALS",
            `no usable Google credentials for ${location}: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file (${message})`
        );
    }
    const status = statusOf(error);
    if (status === 404) return new StorageError(location, `not found (HTTP 404); check GCS_BUCKET ("${bucket}") and the object name`, { statusCode: 404, cause: error });
    if (status === 401 || status === 403) {
        return new StorageError(location, `access denied (HTTP ${status}); check GOOGLE_APPLICATION_CREDENTIALS and the bucket's permissions: ${message}`, {
            statusCode: status,
            cause: error
        });
    }
    if (status !== undefined) return new StorageError(location, `GCS error (HTTP ${status}): ${message}`, { statusCode: status, retryable: isTransientGcsError(error), cause: error });
    const code = findErrorCode(error);
    return new StorageError(location, `GCS request failed: ${message}${code !== undefined && !message.includes(code) ? ` (${code})` : ""}`, {
        retryable: isTransientGcsError(error),
        cause: error
    });
}
