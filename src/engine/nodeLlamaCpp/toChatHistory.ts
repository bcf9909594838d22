import type { ChatHistoryItem, ChatModelFunctionCall } from "node-llama-cpp";
import { UnsupportedRequestError } from "../engineErrors.js";
import type { ChatMessage } from "../types.js";

function parseArguments(text: string): unknown {
    try {
        return JSON.parse(text) as unknown;
    } catch {
        return text;
    }
}

/**
 * Converts engine-neutral chat messages to node-llama-cpp's history: tool results are attached to the
 * assistant's function calls they answer, and an empty model turn is appended for the reply.
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
    const history: ChatHistoryItem[] = [];
    const openCalls = new Map<string, ChatModelFunctionCall>();
    let unansweredInOrder: ChatModelFunctionCall[] = [];
    for (const message of messages) {
        switch (message.role) {
            case "system":
                history.push({ type: "system", text: message.content });
                break;
            case "user":
                history.push({ type: "user", text: message.content });
                break;
            case "assistant": {
                const response: Array<string | ChatModelFunctionCall> = message.content !== "" ? [message.content] : [];
                unansweredInOrder = [];
                for (const call of message.toolCalls ?? []) {
                    const item: ChatModelFunctionCall = { type: "functionCall", name: call.name, params: parseArguments(call.arguments), result: "" };
                    openCalls.set(call.id, item);
                    unansweredInOrder.push(item);
                    response.push(item);
                }
                history.push({ type: "model", response });
                break;
            }
            case "tool": {
                const call = message.toolCallId !== undefined ? openCalls.get(message.toolCallId) : unansweredInOrder[0];
                if (call === undefined) {
                    throw new UnsupportedRequestError("a tool message does not answer any tool call of a previous assistant message", "messages");
                }
                call.result = parseArguments(message.content);
                unansweredInOrder = unansweredInOrder.filter((item) => item !== call);
                break;
            }
        }
    }
    history.push({ type: "model", response: [] });
    return history;
}
