import { randomBytes } from "node:crypto";
import type { FinishReason, GenerationCallbacks, GenerationResult, ToolCall } from "../types.js";

type Json = Record<string, unknown>;

function asRecord(value: unknown): Json | undefined {
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function toFinishReason(value: unknown): FinishReason | undefined {
    if (typeof value !== "string") return undefined;
    if (value === "length") return "length";
    if (value === "tool_calls" || value === "function_call") return "tool_calls";
    return "stop";
}

/** A chunk's text, as the reader decoded it; see `textOf`. */
export type ChunkText = (choice: Json, chunk: Json) => string | undefined;

/**
 * (The prompt size is only known from the final usage, so `onPromptProcessed` is not called.)
 * Folds the chunks of an OpenAI-style stream (chat `delta`s or completion `text`s) into deltas for the
 * caller and one GenerationResult: text, tool calls by index, the finish reason and the usage.
 */
export class GenerationStreamReader {
    private readonly callbacks: GenerationCallbacks;
    private readonly textOf: ChunkText;
    private text = "";
    private readonly toolCalls = new Map<number, ToolCall>();
    private finishReason: FinishReason | undefined;
    private promptTokens: number | undefined;
    private completionTokens: number | undefined;
    private chunks = 0;

    /** `textOf` picks a choice's text; default: `delta.content` (chat) or `text` (completions). */
    public constructor(callbacks: GenerationCallbacks, textOf?: ChunkText) {
        this.callbacks = callbacks;
        this.textOf = textOf ?? ((choice) => {
            const delta = asRecord(choice.delta);
            const content = delta !== undefined ? delta.content : choice.text;
            return typeof content === "string" ? content : undefined;
        });
    }

    public get finished(): boolean {
        return this.finishReason !== undefined;
    }

    /** Takes one parsed `data:` object. */
    public push(chunk: Json): void {
        const usage = asRecord(chunk.usage);
        if (usage !== undefined) {
            if (typeof usage.prompt_tokens === "number") this.promptTokens = usage.prompt_tokens;
            if (typeof usage.completion_tokens === "number") this.completionTokens = usage.completion_tokens;
        }
        const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
        for (const raw of choices) {
            const choice = asRecord(raw);
            if (choice === undefined) continue;
            const text = this.textOf(choice, chunk);
            if (text !== undefined && text !== "") {
                this.chunks++;
                this.text += text;
                this.callbacks.onDelta?.({ type: "text", text });
            }
            const delta = asRecord(choice.delta);
            if (delta !== undefined && Array.isArray(delta.tool_calls)) {
                for (const rawCall of delta.tool_calls) this.pushToolCall(asRecord(rawCall));
            }
            const finish = toFinishReason(choice.finish_reason);
            if (finish !== undefined) this.finishReason = finish;
        }
    }

    /**
     * Takes a whole (non-streamed) answer: a chat `message` or a completion `text`, its finish reason and
     * usage; the output is passed on as one delta per part, as a stream of one chunk would.
     */
    public pushResponse(response: Json): void {
        const choices = Array.isArray(response.choices) ? response.choices : [];
        const choice = asRecord(choices[0]);
        const message = choice !== undefined ? asRecord(choice.message) : undefined;
        this.push({
            usage: response.usage,
            choices: choice === undefined ? [] : [{
                index: 0,
                finish_reason: choice.finish_reason,
                ...(message !== undefined
                    ? { delta: { content: message.content, tool_calls: Array.isArray(message.tool_calls) ? message.tool_calls.map((call, index) => ({ index, ...(asRecord(call) ?? {}) })) : undefined } }
                    : { text: choice.text })
            }]
        });
    }

    /** The result; undefined when the stream never said how it finished (it was cut). */
    public result(): GenerationResult | undefined {
        if (this.finishReason === undefined) return undefined;
        const toolCalls = [...this.toolCalls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
        return {
            text: this.text,
            toolCalls,
            finishReason: this.finishReason === "stop" && toolCalls.length > 0 ? "tool_calls" : this.finishReason,
            promptTokens: this.promptTokens ?? 0,
            // Servers that send no usage: one token per chunk is the best estimate there is.
            completionTokens: this.completionTokens ?? this.chunks
        };
    }

    private pushToolCall(call: Json | undefined): void {
        if (call === undefined) return;
        const index = typeof call.index === "number" ? call.index : this.toolCalls.size;
        const fn = asRecord(call.function) ?? {};
        const argumentsDelta = typeof fn.arguments === "string" ? fn.arguments : "";
        let known = this.toolCalls.get(index);
        if (known === undefined) {
            known = {
                id: typeof call.id === "string" && call.id !== "" ? call.id : `call_${randomBytes(12).toString("hex")}`,
                name: typeof fn.name === "string" ? fn.name : "",
                arguments: ""
            };
            this.toolCalls.set(index, known);
            known.arguments += argumentsDelta;
            this.callbacks.onDelta?.({ type: "toolCall", index, id: known.id, name: known.name, argumentsDelta });
            return;
        }
        if (typeof fn.name === "string" && known.name === "") known.name = fn.name;
        known.arguments += argumentsDelta;
        if (argumentsDelta !== "") this.callbacks.onDelta?.({ type: "toolCall", index, argumentsDelta });
    }
}
