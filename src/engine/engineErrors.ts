/** A model could not be loaded (file vanished, not enough memory, unsupported architecture). */
export class ModelLoadError extends Error {
    public readonly modelId: string;

    public constructor(modelId: string, reason: string, options?: { cause?: unknown }) {
        super(`failed to load model "${modelId}": ${reason}`, options);
        this.name = "ModelLoadError";
        this.modelId = modelId;
    }
}

/** The service is stopping and takes no new work. */
export class ShuttingDownError extends Error {
    public constructor() {
        super("the service is shutting down");
        this.name = "ShuttingDownError";
    }
}

/** The prompt (plus room for at least one token) does not fit the model's context. */
export class ContextLengthExceededError extends Error {
    public readonly promptTokens: number;
    public readonly contextSize: number;

    public constructor(promptTokens: number, contextSize: number) {
        super(`the prompt is ${promptTokens} tokens, but this model's context holds ${contextSize} tokens per request; shorten the prompt`);
        this.name = "ContextLengthExceededError";
        this.promptTokens = promptTokens;
        this.contextSize = contextSize;
    }
}

/** A request the engine cannot honour as asked (bad JSON schema, unsupported combination). */
export class UnsupportedRequestError extends Error {
    public readonly param: string | undefined;

    public constructor(message: string, param?: string) {
        super(message);
        this.name = "UnsupportedRequestError";
        this.param = param;
    }
}

/** All sequences are busy and the wait queue is full. */
export class QueueFullError extends Error {
    public readonly retryAfterSeconds: number;

    public constructor(modelId: string, limit: number, retryAfterSeconds = 1) {
        super(`server busy: model "${modelId}" has ${limit} requests waiting already; retry later`);
        this.name = "QueueFullError";
        this.retryAfterSeconds = retryAfterSeconds;
    }
}

/** The request ran past limits.requestTimeoutMs. */
export class RequestTimeoutError extends Error {
    public constructor(timeoutMs: number) {
        super(`request timed out after ${timeoutMs} ms`);
        this.name = "RequestTimeoutError";
    }
}

/** The client went away; its generation is stopped and its sequence freed. */
export class ClientAbortError extends Error {
    public constructor() {
        super("client closed the connection");
        this.name = "ClientAbortError";
    }
}

/**
 * An engine that runs out of process (a managed llama-server, an upstream server) is not there to take the
 * request: it is starting, restarting after a crash, or gave up. Retrying later can succeed (HTTP 503).
 */
export class EngineUnavailableError extends Error {
    public readonly modelId: string;
    public readonly retryAfterSeconds: number;

    public constructor(modelId: string, reason: string, retryAfterSeconds = 2) {
        super(`model "${modelId}" is unavailable: ${reason}`);
        this.name = "EngineUnavailableError";
        this.modelId = modelId;
        this.retryAfterSeconds = retryAfterSeconds;
    }
}

/**
 * The engine process or upstream server failed this request after accepting it: it crashed mid-generation,
 * closed the connection, or answered something that is not a valid response (HTTP 502).
 */
export class EngineRequestError extends Error {
    public readonly modelId: string;

    public constructor(modelId: string, reason: string, options?: { cause?: unknown }) {
        super(`model "${modelId}" failed this request: ${reason}`, options);
        this.name = "EngineRequestError";
        this.modelId = modelId;
    }
}
