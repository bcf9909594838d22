import { ContextLengthExceededError, QueueFullError, UnsupportedRequestError } from "../engine/engineErrors.js";
import { InvalidModelIdError, ModelNotFoundError } from "../models/modelErrors.js";
import { JobInputError } from "./JobInputError.js";

/** An error as a batch result line carries it (OpenAI's error object). */
export interface JobErrorBody {
    message: string;
    type: "invalid_request_error" | "server_error";
    code: string | null;
    param: string | null;
}

/** Describes a failed request of a job without HTTP: the caller's mistakes apart from the service's failures. */
export function describeJobError(error: unknown): JobErrorBody {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof JobInputError) return { message, type: "invalid_request_error", code: "invalid_job_input", param: error.param ?? null };
    if (error instanceof UnsupportedRequestError) return { message, type: "invalid_request_error", code: "unsupported_value", param: error.param ?? null };
    if (error instanceof ContextLengthExceededError) return { message, type: "invalid_request_error", code: "context_length_exceeded", param: null };
    if (error instanceof ModelNotFoundError) return { message, type: "invalid_request_error", code: "model_not_found", param: "model" };
    if (error instanceof InvalidModelIdError) return { message, type: "invalid_request_error", code: "invalid_model", param: "model" };
    if (error instanceof QueueFullError) return { message, type: "server_error", code: "queue_full", param: null };
    return { message, type: "server_error", code: null, param: null };
}
