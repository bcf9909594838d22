import { randomBytes } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ClientAbortError } from "../engine/engineErrors.js";
import type { GenerationResult } from "../engine/types.js";
import {
    chatCompletion,
    chatDeltaChunk,
    chatFinishChunk,
    chatRoleChunk,
    textCompletion,
    textCompletionChunk,
    usageChunk,
    usageOf,
    type ResponseIdentity
} from "../openai/openAiResponses.js";
import type { GenerationJob, InferenceService } from "../service/InferenceService.js";
import { openAiErrorBody, toHttpError } from "./errors.js";
import { SseStream } from "./sseStream.js";

export interface GenerationResponseOptions {
    inference: InferenceService;
    request: FastifyRequest;
    reply: FastifyReply;
    modelId: string;
    route: "/v1/chat/completions" | "/v1/completions";
    jobs: GenerationJob[];
    stream: boolean;
    includeUsage: boolean;
    /** Completions only: the prompts, for `echo`. */
    prompts?: string[];
    echo?: boolean;
}

/** An AbortSignal that fires when the client disconnects before the response is complete. */
export function clientAbortSignal(reply: FastifyReply): AbortSignal {
    const controller = new AbortController();
    reply.raw.on("close", () => {
        if (!reply.raw.writableFinished) controller.abort(new ClientAbortError());
    });
    return controller.signal;
}

function identityFor(modelId: string, prefix: string): ResponseIdentity {
    return { id: `${prefix}-${randomBytes(12).toString("hex")}`, model: modelId, created: Math.floor(Date.now() / 1000) };
}

/** Runs a chat or completion request and answers with JSON or an SSE stream in OpenAI's format. */
export async function respondWithGeneration(options: GenerationResponseOptions): Promise<unknown> {
    const { inference, request, reply, modelId, jobs } = options;
    const chat = options.route === "/v1/chat/completions";
    const identity = identityFor(modelId, chat ? "chatcmpl" : "cmpl");
    const signal = clientAbortSignal(reply);
    const meta = { requestId: String(request.id), route: options.route, stream: options.stream };

    if (!options.stream) {
        const results = await inference.generateMany(modelId, jobs, {}, signal, meta);
        return chat ? chatCompletion(identity, results[0]!) : textCompletion(identity, results, options.prompts ?? [], options.echo === true);
    }

    const sse = new SseStream(reply);
    let roleSent = false;
    const sendRole = (): void => {
        if (chat && !roleSent) sse.send(chatRoleChunk(identity));
        roleSent = true;
    };
    let results: GenerationResult[];
    try {
        results = await inference.generateMany(
            modelId,
            jobs,
            {
                onDelta: (delta, jobIndex) => {
                    if (delta.type === "text" && delta.text === "") return;
                    sendRole();
                    if (chat) sse.send(chatDeltaChunk(identity, delta));
                    else if (delta.type === "text") sse.send(textCompletionChunk(identity, jobIndex, delta.text, null));
                }
            },
            signal,
            meta
        );
    } catch (error) {
        if (!sse.isOpen) throw error; // nothing sent yet: a normal HTTP error response
        if (!signal.aborted) {
            const httpError = toHttpError(error);
            request.log.warn({ err: error }, "stream failed after it started");
            sse.send(openAiErrorBody(httpError));
        }
        sse.done();
        return reply;
    }
    sendRole();
    for (const [index, result] of results.entries()) {
        sse.send(chat ? chatFinishChunk(identity, result.finishReason) : textCompletionChunk(identity, index, "", result.finishReason));
    }
    if (options.includeUsage) sse.send(usageChunk(identity, chat ? "chat.completion.chunk" : "text_completion", usageOf(results)));
    sse.done();
    return reply;
}
