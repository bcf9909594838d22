import type { GenerationDelta, GenerationResult } from "../engine/types.js";
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
import type { JobRequest } from "./parseJobInput.js";

type GenerateRequest = Extract<JobRequest, { kind: "generate" }>;

/** worker-vllm's usage block: prompt and generated tokens. */
function vllmUsage(results: readonly GenerationResult[]) {
    const usage = usageOf(results);
    return { input: usage.prompt_tokens, output: usage.completion_tokens };
}

/** The response body of a finished generation request, in the request's style. */
export function generationResponse(request: GenerateRequest, identity: ResponseIdentity, results: GenerationResult[]): unknown {
    if (request.style === "vllm") {
        // RunPod worker-vllm's short-form output: a list of batches; a finished request is one batch.
        return [{ choices: results.map((result) => ({ tokens: [result.text], finish_reason: result.finishReason })), usage: vllmUsage(results) }];
    }
    return request.route === "/v1/chat/completions"
        ? chatCompletion(identity, results[0]!)
        : textCompletion(identity, results, request.prompts, request.echo);
}

/**
 * Turns a generation's deltas into the partial outputs of a `stream: true` job: OpenAI chunk objects for
 * OpenAI-style requests, worker-vllm token batches (`{choices: [{tokens: [...]}]}`) for the short form.
 */
export class StreamChunker {
    private readonly request: GenerateRequest;
    private readonly identity: ResponseIdentity;
    private readonly publish: (chunk: unknown) => void;
    private readonly batchSize: number;
    private roleSent = false;
    private pending: string[] = [];

    public constructor(request: GenerateRequest, identity: ResponseIdentity, batchSize: number, publish: (chunk: unknown) => void) {
        this.request = request;
        this.identity = identity;
        this.batchSize = batchSize;
        this.publish = publish;
    }

    public onDelta(delta: GenerationDelta, jobIndex: number): void {
        if (delta.type === "text" && delta.text === "") return;
        if (this.request.style === "vllm") {
            if (delta.type !== "text") return;
            this.pending.push(delta.text);
            if (this.pending.length >= this.batchSize) this.flushTokens();
            return;
        }
        if (this.request.route === "/v1/chat/completions") {
            this.sendRole();
            this.publish(chatDeltaChunk(this.identity, delta));
        } else if (delta.type === "text") {
            this.publish(textCompletionChunk(this.identity, jobIndex, delta.text, null));
        }
    }

    /** The closing chunks: finish reasons and usage. */
    public finish(results: GenerationResult[]): void {
        if (this.request.style === "vllm") {
            this.flushTokens(vllmUsage(results));
            return;
        }
        const chat = this.request.route === "/v1/chat/completions";
        if (chat) this.sendRole();
        for (const [index, result] of results.entries()) {
            this.publish(chat ? chatFinishChunk(this.identity, result.finishReason) : textCompletionChunk(this.identity, index, "", result.finishReason));
        }
        if (this.request.includeUsage) this.publish(usageChunk(this.identity, chat ? "chat.completion.chunk" : "text_completion", usageOf(results)));
    }

    private sendRole(): void {
        if (this.roleSent) return;
        this.roleSent = true;
        this.publish(chatRoleChunk(this.identity));
    }

    private flushTokens(usage?: { input: number; output: number }): void {
        if (this.pending.length === 0 && usage === undefined) return;
        this.publish({ choices: [{ tokens: this.pending }], ...(usage !== undefined ? { usage } : {}) });
        this.pending = [];
    }
}
