import { ContextLengthExceededError, EngineRequestError, EngineUnavailableError, UnsupportedRequestError } from "../engineErrors.js";
import { readSseStream } from "../SseDecoder.js";
import type { GenerationResult } from "../types.js";
import type { GenerationStreamReader } from "./GenerationStreamReader.js";
import { postJson } from "./postJson.js";

type Json = Record<string, unknown>;

/** Where a network failure happened: before any response, or while the body streamed. */
export type ConnectionPhase = "connect" | "stream";

export interface OpenAiCompatClientOptions {
    modelId: string;
    /** Who answers, for messages ("llama-server", "upstream http://host:8000/v1"). */
    peer: string;
    /** Extra headers (Authorization for upstreams). */
    headers?: Record<string, string>;
    /** Turns a network failure into the error the caller sees. Default: 503 before a response, 502 during one. */
    connectionError?: (error: Error, phase: ConnectionPhase) => Error;
}

/** The peer's error message from its OpenAI-style error body, else the start of its answer. */
function describePeerError(body: Json | undefined, text: string): string {
    const error = body !== undefined && typeof body.error === "object" && body.error !== null ? (body.error as Json) : body;
    const message = error !== undefined && typeof error.message === "string" ? error.message : text.slice(0, 500);
    return message.trim() === "" ? "(no message)" : message.trim();
}

/** Context overflow messages: vLLM/OpenAI's and ours (a Mentator upstream). */
function parseContextOverflow(message: string): { promptTokens: number; contextSize: number } | undefined {
    // "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4990 in the messages, 10 in the completion)."
    const vllm = /maximum context length is (\d+) tokens.*?(\d+) (?:tokens )?in the (?:messages|prompt)/is.exec(message);
    if (vllm !== null) return { promptTokens: Number(vllm[2]), contextSize: Number(vllm[1]) };
    // "the prompt is 600 tokens, but this model's context holds 512 tokens per request"
    const ours = /prompt is (\d+) tokens, but this model's context holds (\d+) tokens/i.exec(message);
    if (ours !== null) return { promptTokens: Number(ours[1]), contextSize: Number(ours[2]) };
    return undefined;
}

function parseJson(text: string): Json | undefined {
    try {
        const value = JSON.parse(text) as unknown;
        return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
    } catch {
        return undefined;
    }
}

/**
 * Speaks OpenAI's HTTP API to a llama-server or an upstream: streaming generation folded by a
 * GenerationStreamReader, JSON calls, and one translation of the peer's errors into ours
 * (context overflow -> ContextLengthExceededError, other 4xx -> UnsupportedRequestError, 5xx -> 502/503).
 */
export class OpenAiCompatClient {
    private readonly options: OpenAiCompatClientOptions;

    public constructor(options: OpenAiCompatClientOptions) {
        this.options = options;
    }

    /**
     * Runs a generation body (built with `stream: true`): streamed when the caller's deltas go to a client as
     * they come, otherwise as one plain request (cheaper: no per-token events).
     */
    public generate(url: string, body: Json, reader: GenerationStreamReader, signal: AbortSignal, streamed: boolean): Promise<GenerationResult> {
        if (streamed) return this.stream(url, body, reader, signal);
        return this.once(url, body, reader, signal);
    }

    private async once(url: string, body: Json, reader: GenerationStreamReader, signal: AbortSignal): Promise<GenerationResult> {
        const { stream_options: _streamOptions, ...plain } = body;
        const answer = await this.call(url, { ...plain, stream: false }, signal);
        try {
            reader.pushResponse(answer);
        } catch (error) {
            throw this.networkError(error, "stream", signal);
        }
        const result = reader.result();
        if (result === undefined) throw new EngineRequestError(this.options.modelId, `${this.options.peer} answered without a finish reason`);
        return result;
    }

    /** POSTs a streaming request and feeds each `data:` object to the reader until `[DONE]` or the end. */
    public async stream(url: string, body: Json, reader: GenerationStreamReader, signal: AbortSignal): Promise<GenerationResult> {
        const response = await this.post(url, body, signal);
        if (response.status !== 200) throw this.errorFor(response.status, await this.readText(response, signal));
        try {
            await readSseStream(response.body, (event) => {
                if (event.data === "[DONE]") return "stop";
                const chunk = parseJson(event.data);
                if (chunk === undefined) throw new EngineRequestError(this.options.modelId, `${this.options.peer} sent a stream event that is not JSON: ${event.data.slice(0, 200)}`);
                if (chunk.error !== undefined) {
                    const error = chunk.error as Json;
                    throw this.errorFor(typeof error.code === "number" ? error.code : 500, event.data);
                }
                reader.push(chunk);
            });
        } catch (error) {
            throw this.networkError(error, "stream", signal);
        }
        const result = reader.result();
        if (result === undefined) throw this.networkError(new Error("the stream ended before the generation finished"), "stream", signal);
        return result;
    }

    /** POSTs a JSON request and returns the parsed JSON answer. */
    public async call(url: string, body: Json, signal: AbortSignal): Promise<Json> {
        const response = await this.post(url, body, signal);
        const text = await this.readText(response, signal);
        if (response.status !== 200) throw this.errorFor(response.status, text);
        const json = parseJson(text);
        if (json === undefined) throw new EngineRequestError(this.options.modelId, `${this.options.peer} answered with something that is not a JSON object`);
        return json;
    }

    /** The error for a non-200 answer (or an error event) from the peer. */
    public errorFor(status: number, text: string): Error {
        const body = parseJson(text);
        const message = describePeerError(body, text);
        const error = body !== undefined && typeof body.error === "object" && body.error !== null ? (body.error as Json) : body;
        // llama-server: {"type": "exceed_context_size_error", "n_prompt_tokens", "n_ctx"}
        if (error !== undefined && error.type === "exceed_context_size_error" && typeof error.n_prompt_tokens === "number" && typeof error.n_ctx === "number") {
            return new ContextLengthExceededError(error.n_prompt_tokens, error.n_ctx);
        }
        if (status === 400) {
            const overflow = parseContextOverflow(message);
            if (overflow !== undefined) return new ContextLengthExceededError(overflow.promptTokens, overflow.contextSize);
        }
        if (status === 400 || status === 422) return new UnsupportedRequestError(`${this.options.peer} rejected the request: ${message}`);
        if (status === 503 || status === 429) return new EngineUnavailableError(this.options.modelId, `${this.options.peer} is busy or loading (HTTP ${status}): ${message}`);
        return new EngineRequestError(this.options.modelId, `${this.options.peer} answered HTTP ${status}: ${message}`);
    }

    private async post(url: string, body: Json, signal: AbortSignal) {
        try {
            return await postJson(url, body, { signal, headers: this.options.headers });
        } catch (error) {
            throw this.networkError(error, "connect", signal);
        }
    }

    private async readText(response: { text(): Promise<string> }, signal: AbortSignal): Promise<string> {
        try {
            return await response.text();
        } catch (error) {
            throw this.networkError(error, "stream", signal);
        }
    }

    /** Domain errors pass through; an abort rethrows the signal's reason; anything else is a network failure. */
    private networkError(error: unknown, phase: ConnectionPhase, signal: AbortSignal): Error {
        if (signal.aborted) return signal.reason instanceof Error ? signal.reason : new Error("aborted");
        if (
            error instanceof ContextLengthExceededError ||
            error instanceof UnsupportedRequestError ||
            error instanceof EngineRequestError ||
            error instanceof EngineUnavailableError
        ) {
            return error;
        }
        const cause = error instanceof Error ? error : new Error(String(error));
        if (this.options.connectionError !== undefined) return this.options.connectionError(cause, phase);
        const code = (cause as NodeJS.ErrnoException).code;
        const what = code !== undefined ? `${code}: ${cause.message}` : cause.message;
        return phase === "connect"
            ? new EngineUnavailableError(this.options.modelId, `cannot reach ${this.options.peer} (${what})`)
            : new EngineRequestError(this.options.modelId, `the connection to ${this.options.peer} broke during the request (${what})`, { cause });
    }
}
