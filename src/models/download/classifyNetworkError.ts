import { DownloadError } from "./DownloadError.js";
import { findErrorCode } from "../../util/findErrorCode.js";

/** Failures worth a retry: the network hiccupped, the peer went away, or a timer fired. */
const TRANSIENT_CODES = new Set([
    "ECONNRESET",
    "ECONNREFUSED",
    "ECONNABORTED",
    "EPIPE",
    "ETIMEDOUT",
    "EAI_AGAIN",
    "ENETUNREACH",
    "ENETDOWN",
    "EHOSTUNREACH",
    "UND_ERR_SOCKET",
    "UND_ERR_CONNECT_TIMEOUT",
    "UND_ERR_HEADERS_TIMEOUT",
    "UND_ERR_BODY_TIMEOUT",
    "UND_ERR_CLOSED",
    "ERR_STREAM_PREMATURE_CLOSE",
    "TimeoutError",
    "RequestTimeout",
    "RequestTimeTooSkewed"
]);


/** Wraps a low-level error (fetch, socket, stream) in a DownloadError that says whether to retry. */
export function classifyNetworkError(location: string, error: unknown): DownloadError {
    if (error instanceof DownloadError) return error;
    const code = findErrorCode(error);
    const detail = error instanceof Error ? error.message : String(error);
    if (code === "ENOTFOUND") return new DownloadError(location, "host not found (DNS lookup failed)", { cause: error });
    const message = code !== undefined && !detail.includes(code) ? `${detail} (${code})` : detail;
    return new DownloadError(location, `network error: ${message}`, {
        retryable: code === undefined || TRANSIENT_CODES.has(code),
        cause: error
    });
}
