import { UnsupportedRequestError } from "../engine/engineErrors.js";
import type { ChatGenerationRequest, ChatMessage, ResponseFormat, SamplingOptions, TextGenerationRequest, ToolChoice } from "../engine/types.js";
import type { ChatCompletionRequest, CompletionRequest } from "./requestSchemas.js";

type Content = ChatCompletionRequest["messages"][number]["content"];
type SamplingFields = Pick<
    ChatCompletionRequest,
    | "max_tokens"
    | "temperature"
    | "top_p"
    | "top_k"
    | "min_p"
    | "seed"
    | "stop"
    | "ignore_eos"
    | "presence_penalty"
    | "frequency_penalty"
    | "logit_bias"
    | "n"
>;

function contentToText(content: Content | undefined, param: string): string {
    if (content === null || content === undefined) return "";
    if (typeof content === "string") return content;
    return content
        .map((part, index) => {
            if (part.type === "text" && typeof part.text === "string") return part.text;
            throw new UnsupportedRequestError(`content part type "${part.type}" is not supported (only text)`, `${param}[${index}]`);
        })
        .join("");
}

function undefinedIfNull<T>(value: T | null | undefined): T | undefined {
    return value === null ? undefined : value;
}

function toSampling(body: SamplingFields, maxTokens: number | null | undefined): SamplingOptions {
    if (body.n !== undefined && body.n !== null && body.n > 1) {
        throw new UnsupportedRequestError("n > 1 is not supported: send n separate requests (they run in parallel)", "n");
    }
    const stop = body.stop === null || body.stop === undefined ? undefined : typeof body.stop === "string" ? [body.stop] : body.stop;
    return {
        maxTokens: undefinedIfNull(maxTokens),
        temperature: undefinedIfNull(body.temperature),
        topP: undefinedIfNull(body.top_p),
        topK: undefinedIfNull(body.top_k),
        minP: undefinedIfNull(body.min_p),
        seed: undefinedIfNull(body.seed),
        stop: stop?.filter((item) => item !== ""),
        ignoreEos: undefinedIfNull(body.ignore_eos),
        presencePenalty: undefinedIfNull(body.presence_penalty),
        frequencyPenalty: undefinedIfNull(body.frequency_penalty),
        logitBias:
            body.logit_bias === null || body.logit_bias === undefined
                ? undefined
                : Object.fromEntries(Object.entries(body.logit_bias).map(([token, bias]) => [Number(token), bias]))
    };
}

function toResponseFormat(format: ChatCompletionRequest["response_format"]): ResponseFormat | undefined {
    if (format === null || format === undefined) return undefined;
    if (format.type !== "json_schema") return format;
    if (format.json_schema.schema === undefined) {
        throw new UnsupportedRequestError("response_format.json_schema.schema is required", "response_format.json_schema.schema");
    }
    return { type: "json_schema", schema: format.json_schema.schema };
}

function toToolChoice(choice: ChatCompletionRequest["tool_choice"]): ToolChoice | undefined {
    if (choice === null || choice === undefined) return undefined;
    return typeof choice === "string" ? choice : { name: choice.function.name };
}

export function toChatGenerationRequest(body: ChatCompletionRequest): ChatGenerationRequest {
    const messages: ChatMessage[] = body.messages.map((message, index): ChatMessage => {
        const param = `messages[${index}].content`;
        switch (message.role) {
            case "system":
            case "developer":
                return { role: "system", content: contentToText(message.content, param) };
            case "user":
                return { role: "user", content: contentToText(message.content, param) };
            case "assistant":
                return {
                    role: "assistant",
                    content: contentToText(message.content, param),
                    toolCalls: message.tool_calls?.map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments }))
                };
            case "tool":
                return { role: "tool", content: contentToText(message.content, param), toolCallId: message.tool_call_id };
        }
    });
    return {
        messages,
        tools: body.tools?.map((tool) => ({ name: tool.function.name, description: tool.function.description, parameters: tool.function.parameters })),
        toolChoice: toToolChoice(body.tool_choice),
        responseFormat: toResponseFormat(body.response_format),
        sampling: toSampling(body, body.max_completion_tokens ?? body.max_tokens)
    };
}

/** One engine request per prompt (OpenAI accepts an array of prompts, answered as separate choices). */
export function toTextGenerationRequests(body: CompletionRequest): TextGenerationRequest[] {
    const prompts = typeof body.prompt === "string" ? [body.prompt] : body.prompt;
    const sampling = toSampling(body, body.max_tokens ?? 16);
    return prompts.map((prompt) => ({ prompt, sampling, responseFormat: toResponseFormat(body.response_format) }));
}
