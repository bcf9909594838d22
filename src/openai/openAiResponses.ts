import type { FinishReason, GenerationDelta, GenerationResult } from "../engine/types.js";

/** Builders for OpenAI response bodies and stream chunks. Pure functions of engine results. */

export interface ResponseIdentity {
    id: string;
    model: string;
    created: number;
}

export interface Usage {
    prompt_tokens: number;
    completion_tokens: number;
    total_tokens: number;
}

export function usageOf(results: ReadonlyArray<Pick<GenerationResult, "promptTokens" | "completionTokens">>): Usage {
    const prompt = results.reduce((sum, result) => sum + result.promptTokens, 0);
    const completion = results.reduce((sum, result) => sum + result.completionTokens, 0);
    return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function toolCallsOf(result: GenerationResult) {
    return result.toolCalls.map((call) => ({ id: call.id, type: "function" as const, function: { name: call.name, arguments: call.arguments } }));
}

export function chatCompletion(identity: ResponseIdentity, result: GenerationResult) {
    const toolCalls = toolCallsOf(result);
    return {
        id: identity.id,
        object: "chat.completion" as const,
        created: identity.created,
        model: identity.model,
        choices: [
            {
                index: 0,
                message: {
                    role: "assistant" as const,
                    content: toolCalls.length > 0 && result.text === "" ? null : result.text,
                    ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {})
                },
                logprobs: null,
                finish_reason: result.finishReason
            }
        ],
        usage: usageOf([result])
    };
}

function chatChunk(identity: ResponseIdentity, delta: Record<string, unknown>, finishReason: FinishReason | null) {
    return {
        id: identity.id,
        object: "chat.completion.chunk" as const,
        created: identity.created,
        model: identity.model,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }]
    };
}

export function chatRoleChunk(identity: ResponseIdentity) {
    return chatChunk(identity, { role: "assistant", content: "" }, null);
}

export function chatDeltaChunk(identity: ResponseIdentity, delta: GenerationDelta) {
    if (delta.type === "text") return chatChunk(identity, { content: delta.text }, null);
    const call: Record<string, unknown> = { index: delta.index, function: { arguments: delta.argumentsDelta } };
    if (delta.id !== undefined) {
        call.id = delta.id;
        call.type = "function";
        call.function = { name: delta.name ?? "", arguments: delta.argumentsDelta };
    }
    return chatChunk(identity, { tool_calls: [call] }, null);
}

export function chatFinishChunk(identity: ResponseIdentity, finishReason: FinishReason) {
    return chatChunk(identity, {}, finishReason);
}

export function usageChunk(identity: ResponseIdentity, object: "chat.completion.chunk" | "text_completion", usage: Usage) {
    return { id: identity.id, object, created: identity.created, model: identity.model, choices: [], usage };
}

export function textCompletion(identity: ResponseIdentity, results: GenerationResult[], prompts: string[], echo: boolean) {
    return {
        id: identity.id,
        object: "text_completion" as const,
        created: identity.created,
        model: identity.model,
        choices: results.map((result, index) => ({
            index,
            text: echo ? `${prompts[index] ?? ""}${result.text}` : result.text,
            logprobs: null,
            finish_reason: result.finishReason
        })),
        usage: usageOf(results)
    };
}

export function textCompletionChunk(identity: ResponseIdentity, index: number, text: string, finishReason: FinishReason | null) {
    return {
        id: identity.id,
        object: "text_completion" as const,
        created: identity.created,
        model: identity.model,
        choices: [{ index, text, logprobs: null, finish_reason: finishReason }]
    };
}

export function embeddingList(model: string, embeddings: number[][], promptTokens: number, encoding: "float" | "base64") {
    return {
        object: "list" as const,
        model,
        data: embeddings.map((vector, index) => ({
            object: "embedding" as const,
            index,
            embedding: encoding === "base64" ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector
        })),
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens }
    };
}
