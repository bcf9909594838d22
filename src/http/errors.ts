import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { DatabaseError } from "../db/DatabaseError.js";
import {
    ClientAbortError,
    ContextLengthExceededError,
    EngineRequestError,
    EngineUnavailableError,
    ModelLoadError,
    QueueFullError,
    RequestTimeoutError,
    ShuttingDownError,
    UnsupportedRequestError
} from "../engine/engineErrors.js";
import { ChecksumMismatchError } from "../models/download/ChecksumMismatchError.js";
import { DownloadError } from "../models/download/DownloadError.js";
import { DownloadInProgressError } from "../models/download/DownloadInProgressError.js";
import { DownloadsDisabledError } from "../models/download/DownloadsDisabledError.js";
import { InsufficientDiskSpaceError } from "../models/download/InsufficientDiskSpaceError.js";
import { InvalidModelUriError } from "../models/download/InvalidModelUriError.js";
import { TargetExistsError } from "../models/download/TargetExistsError.js";
import { LockFileError } from "../models/lock/LockFileError.js";
import { JobInputError } from "../jobs/JobInputError.js";
import { JobNotFoundError } from "../jobs/JobNotFoundError.js";
import { JobStateError } from "../jobs/JobStateError.js";
import { UnknownEndpointError } from "../jobs/UnknownEndpointError.js";
import { InvalidModelIdError, ModelNotFoundError, ModelUnavailableError } from "../models/modelErrors.js";
import { ModelNotDeletableError } from "../models/ModelNotDeletableError.js";

/** OpenAI's error body. */
export interface OpenAiErrorBody {
    error: { message: string; type: string; param: string | null; code: string | null };
}

/** An error raised by the HTTP layer itself with an explicit status (validation, auth). */
export class HttpError extends Error {
    public readonly statusCode: number;
    public readonly type: string;
    public readonly code: string | null;
    public readonly param: string | null;
    public readonly headers: Record<string, string>;

    public constructor(
        statusCode: number,
        message: string,
        options: { type?: string; code?: string | null; param?: string | null; headers?: Record<string, string> } = {}
    ) {
        super(message);
        this.name = "HttpError";
        this.statusCode = statusCode;
        this.type = options.type ?? (statusCode >= 500 ? "server_error" : "invalid_request_error");
        this.code = options.code ?? null;
        this.param = options.param ?? null;
        this.headers = options.headers ?? {};
    }
}

/** The one table from domain errors to HTTP. */
export function toHttpError(error: unknown): HttpError {
    if (error instanceof HttpError) return error;
    if (error instanceof ModelNotFoundError) return new HttpError(404, error.message, { code: "model_not_found", param: "model" });
    if (error instanceof InvalidModelIdError) return new HttpError(400, error.message, { code: "invalid_model", param: "model" });
    if (error instanceof ModelUnavailableError) return new HttpError(503, error.message, { type: "server_error", code: "model_unavailable" });
    if (error instanceof ModelLoadError) return new HttpError(503, error.message, { type: "server_error", code: "model_load_failed" });
    if (error instanceof ShuttingDownError) {
        return new HttpError(503, error.message, { type: "server_error", code: "shutting_down", headers: { "retry-after": "5" } });
    }
    if (error instanceof QueueFullError) {
        return new HttpError(503, error.message, { type: "server_error", code: "queue_full", headers: { "retry-after": String(error.retryAfterSeconds) } });
    }
    if (error instanceof ContextLengthExceededError) {
        return new HttpError(400, error.message, { code: "context_length_exceeded", param: "messages" });
    }
    if (error instanceof UnsupportedRequestError) return new HttpError(400, error.message, { code: "unsupported_value", param: error.param ?? null });
    if (error instanceof EngineUnavailableError) {
        return new HttpError(503, error.message, { type: "server_error", code: "engine_unavailable", headers: { "retry-after": String(error.retryAfterSeconds) } });
    }
    if (error instanceof EngineRequestError) return new HttpError(502, error.message, { type: "server_error", code: "engine_failed" });
    if (error instanceof RequestTimeoutError) return new HttpError(504, error.message, { type: "server_error", code: "timeout" });
    if (error instanceof ClientAbortError) return new HttpError(499, error.message, { code: "client_closed_request" });
    if (error instanceof DatabaseError) return new HttpError(500, "database error", { type: "server_error" });
    if (error instanceof InvalidModelUriError) return new HttpError(400, error.message, { code: "invalid_model_uri", param: "model" });
    if (error instanceof DownloadError) {
        return error.statusCode === 404
            ? new HttpError(404, error.message, { code: "model_source_not_found", param: "model" })
            : new HttpError(502, error.message, { type: "server_error", code: "download_failed" });
    }
    if (error instanceof ChecksumMismatchError) return new HttpError(502, error.message, { type: "server_error", code: "checksum_mismatch" });
    if (error instanceof TargetExistsError) return new HttpError(409, error.message, { code: "model_exists", param: "model" });
    if (error instanceof DownloadInProgressError) return new HttpError(409, error.message, { code: "download_in_progress", param: "model" });
    if (error instanceof InsufficientDiskSpaceError) return new HttpError(507, error.message, { type: "server_error", code: "insufficient_storage" });
    if (error instanceof DownloadsDisabledError) return new HttpError(403, error.message, { code: "offline" });
    if (error instanceof ModelNotDeletableError) return new HttpError(409, error.message, { code: "model_not_deletable", param: "model" });
    if (error instanceof LockFileError) return new HttpError(500, error.message, { type: "server_error", code: "lock_file_invalid" });
    if (error instanceof JobInputError) return new HttpError(400, error.message, { code: "invalid_job_input", param: error.param ?? null });
    if (error instanceof JobNotFoundError) return new HttpError(404, error.message, { code: "job_not_found" });
    if (error instanceof JobStateError) return new HttpError(409, error.message, { code: "invalid_job_state" });
    if (error instanceof UnknownEndpointError) return new HttpError(404, error.message, { code: "endpoint_not_found" });
    const fastifyError = error as Partial<FastifyError>;
    if (typeof fastifyError.statusCode === "number" && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
        const message =
            fastifyError.code === "FST_ERR_CTP_INVALID_JSON_BODY" || fastifyError.code === "FST_ERR_CTP_EMPTY_JSON_BODY"
                ? `malformed JSON body: ${fastifyError.message ?? ""}`
                : (fastifyError.message ?? "bad request");
        return new HttpError(fastifyError.statusCode, message, { code: fastifyError.code ?? null });
    }
    return new HttpError(500, "internal server error", { type: "server_error" });
}

export function openAiErrorBody(error: HttpError): OpenAiErrorBody {
    return { error: { message: error.message, type: error.type, param: error.param, code: error.code } };
}

/** Fastify error handler: OpenAI's error shape everywhere, internals of 5xx only in the log. */
export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
    const httpError = toHttpError(error);
    if (httpError.statusCode >= 500) request.log.error({ err: error }, "request failed");
    else request.log.info({ status: httpError.statusCode, msg: httpError.message }, "request rejected");
    void reply.status(httpError.statusCode).headers(httpError.headers).send(openAiErrorBody(httpError));
}
