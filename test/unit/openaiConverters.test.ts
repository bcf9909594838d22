import { describe, expect, it } from "vitest";
import { UnsupportedRequestError } from "../../src/engine/engineErrors.js";
import { toChatHistory } from "../../src/engine/nodeLlamaCpp/toChatHistory.js";
import { chatDeltaChunk, chatCompletion } from "../../src/openai/openAiResponses.js";
import { chatCompletionRequestSchema, completionRequestSchema } from "../../src/openai/requestSchemas.js";
import { toChatGenerationRequest, toTextGenerationRequests } from "../../src/openai/toEngineRequest.js";

describe("OpenAI request conversion", () => {
    it("maps messages, text parts, sampling and tools", () => {
        const body = chatCompletionRequestSchema.parse({
            model: "m",
            messages: [
                { role: "developer", content: "rules" },
                { role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] },
                { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: '{"x":1}' } }] },
                { role: "tool", tool_call_id: "c1", content: "42" }
            ],
            max_completion_tokens: 7,
            max_tokens: 99,
            stop: "END",
            logit_bias: { "12": -100 },
            tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
            tool_choice: { type: "function", function: { name: "f" } }
        });
        const request = toChatGenerationRequest(body);
        expect(request.messages).toEqual([
            { role: "system", content: "rules" },
            { role: "user", content: "ab" },
            { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "f", arguments: '{"x":1}' }] },
            { role: "tool", content: "42", toolCallId: "c1" }
        ]);
        expect(request.sampling).toMatchObject({ maxTokens: 7, stop: ["END"], logitBias: { 12: -100 } });
        expect(request.toolChoice).toEqual({ name: "f" });
    });

    it("rejects image parts and n > 1 naming the parameter", () => {
        const image = chatCompletionRequestSchema.parse({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] });
        expect(() => toChatGenerationRequest(image)).toThrow(UnsupportedRequestError);
        const n = chatCompletionRequestSchema.parse({ messages: [{ role: "user", content: "x" }], n: 2 });
        expect(() => toChatGenerationRequest(n)).toThrow(/n > 1/);
    });

    it("splits a prompt array into one request per prompt, max_tokens defaulting to 16 like OpenAI", () => {
        const requests = toTextGenerationRequests(completionRequestSchema.parse({ prompt: ["a", "b"] }));
        expect(requests.map((request) => [request.prompt, request.sampling.maxTokens])).toEqual([
            ["a", 16],
            ["b", 16]
        ]);
    });

    it("attaches tool results to the calls they answer and ends with an empty model turn", () => {
        const history = toChatHistory([
            { role: "user", content: "q" },
            { role: "assistant", content: "", toolCalls: [{ id: "a", name: "f", arguments: '{"k":"v"}' }] },
            { role: "tool", content: '{"ok":true}', toolCallId: "a" }
        ]);
        expect(history).toEqual([
            { type: "user", text: "q" },
            { type: "model", response: [{ type: "functionCall", name: "f", params: { k: "v" }, result: { ok: true } }] },
            { type: "model", response: [] }
        ]);
        expect(() => toChatHistory([{ role: "tool", content: "x", toolCallId: "zz" }])).toThrow(UnsupportedRequestError);
    });
});

describe("OpenAI response shapes", () => {
    const identity = { id: "chatcmpl-1", model: "m", created: 1 };

    it("puts tool calls in the message with null content", () => {
        const body = chatCompletion(identity, {
            text: "",
            toolCalls: [{ id: "call_1", name: "f", arguments: "{}" }],
            finishReason: "tool_calls",
            promptTokens: 3,
            completionTokens: 2
        });
        expect(body.choices[0]).toMatchObject({ finish_reason: "tool_calls", message: { content: null, tool_calls: [{ id: "call_1", type: "function" }] } });
        expect(body.usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
    });

    it("streams a tool call's id and name only in its first delta", () => {
        const first = chatDeltaChunk(identity, { type: "toolCall", index: 0, id: "call_1", name: "f", argumentsDelta: "{" });
        const next = chatDeltaChunk(identity, { type: "toolCall", index: 0, argumentsDelta: "}" });
        expect(first.choices[0]!.delta).toEqual({ tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "f", arguments: "{" } }] });
        expect(next.choices[0]!.delta).toEqual({ tool_calls: [{ index: 0, function: { arguments: "}" } }] });
    });
});
