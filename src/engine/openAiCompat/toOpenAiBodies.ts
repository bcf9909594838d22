import type { ChatGenerationRequest, ChatMessage, ResponseFormat, SamplingOptions, TextGenerationRequest, ToolChoice } from "../types.js";

/**
 * Which server the body is for. `llama-server` speaks OpenAI plus llama.cpp's extras (top_k, min_p,
 * ignore_eos, logit_bias bans as `false`) and gets our defaults; `openai` gets only what the client set,
 * so a strict upstream sees nothing it did not ask for.
 */
export type OpenAiDialect = "llama-server" | "openai";

export interface BodyOptions {
    dialect: OpenAiDialect;
    /** `model` field (upstreams need it; llama-server ignores it). */
    model?: string;
    /** Overrides `sampling.maxTokens` (llama-server: capped by the context room). */
    maxTokens?: number;
}

type Json = Record<string, unknown>;

function toOpenAiMessage(message: ChatMessage): Json {
    switch (message.role) {
        case "system":
        case "user":
            return { role: message.role, content: message.content };
        case "assistant":
            return {
                role: "assistant",
                content: message.content,
                ...(message.toolCalls !== undefined && message.toolCalls.length > 0
                    ? { tool_calls: message.toolCalls.map((call) => ({ id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } })) }
                    : {})
            };
        case "tool":
            return { role: "tool", content: message.content, ...(message.toolCallId !== undefined ? { tool_call_id: message.toolCallId } : {}) };
    }
}

function toToolChoice(choice: ToolChoice): unknown {
    return typeof choice === "string" ? choice : { type: "function", function: { name: choice.name } };
}

function toResponseFormat(format: ResponseFormat): Json {
    if (format.type === "json_schema") return { type: "json_schema", json_schema: { name: "response", schema: format.schema } };
    return { type: format.type };
}

function samplingFields(sampling: SamplingOptions, options: BodyOptions): Json {
    const body: Json = {};
    const set = (key: string, value: unknown): void => {
        if (value !== undefined) body[key] = value;
    };
    set("max_tokens", options.maxTokens ?? sampling.maxTokens);
    set("temperature", sampling.temperature);
    set("top_p", sampling.topP);
    set("top_k", sampling.topK);
    set("min_p", sampling.minP);
    set("seed", sampling.seed);
    if (sampling.stop !== undefined && sampling.stop.length > 0) body.stop = sampling.stop;
    set("presence_penalty", sampling.presencePenalty);
    set("frequency_penalty", sampling.frequencyPenalty);
    if (sampling.ignoreEos === true) body.ignore_eos = true;
    const biases = Object.entries(sampling.logitBias ?? {});
    if (biases.length > 0) {
        body.logit_bias =
            options.dialect === "llama-server"
                ? // OpenAI's -100 bans a token; llama.cpp bans with `false` (-inf) and adds numbers as given.
                  biases.map(([token, bias]) => [Number(token), bias <= -100 ? false : bias])
                : Object.fromEntries(biases);
    }
    return body;
}

/** The streaming /v1/chat/completions body for a chat request. */
export function toChatCompletionBody(request: ChatGenerationRequest, options: BodyOptions): Json {
    const body: Json = {
        ...(options.model !== undefined ? { model: options.model } : {}),
        messages: request.messages.map(toOpenAiMessage),
        stream: true,
        stream_options: { include_usage: true },
        ...samplingFields(request.sampling, options)
    };
    if (request.tools !== undefined && request.tools.length > 0) {
        body.tools = request.tools.map((tool) => ({
            type: "function",
            function: { name: tool.name, ...(tool.description !== undefined ? { description: tool.description } : {}), parameters: tool.parameters ?? { type: "object" } }
        }));
        if (request.toolChoice !== undefined) body.tool_choice = toToolChoice(request.toolChoice);
    }
    if (request.responseFormat !== undefined && request.responseFormat.type !== "text") body.response_format = toResponseFormat(request.responseFormat);
    return body;
}

/** The streaming /v1/completions body for a text completion. */
export function toCompletionBody(request: TextGenerationRequest, options: BodyOptions): Json {
    const body: Json = {
        ...(options.model !== undefined ? { model: options.model } : {}),
        prompt: request.prompt,
        stream: true,
        stream_options: { include_usage: true },
        ...samplingFields(request.sampling, options)
    };
    const format = request.responseFormat;
    if (format !== undefined && format.type !== "text") {
        if (options.dialect === "llama-server") body.json_schema = format.type === "json_schema" ? format.schema : { type: "object" };
        else body.response_format = toResponseFormat(format);
    }
    return body;
}
