import { randomBytes } from "node:crypto";
import {
    LlamaChat,
    LlamaCompletion,
    TokenBias,
    type ChatModelFunctions,
    type LlamaContext,
    type LlamaContextSequence,
    type LlamaEmbeddingContext,
    type LlamaGrammar,
    type LlamaModel,
    type Token
} from "node-llama-cpp";
import { ContextLengthExceededError, UnsupportedRequestError } from "../engineErrors.js";
import type {
    ChatGenerationRequest,
    EmbeddingResult,
    FinishReason,
    GenerationCallbacks,
    GenerationResult,
    LoadedModel,
    LoadedModelInfo,
    ResponseFormat,
    SamplingOptions,
    TextGenerationRequest,
    ToolCall
} from "../types.js";
import { toChatHistory } from "./toChatHistory.js";

type StopReason = "eogToken" | "stopGenerationTrigger" | "functionCalls" | "maxTokens" | "abort" | "customStopTrigger";

function finishReasonOf(stopReason: StopReason, signal: AbortSignal): FinishReason {
    if (stopReason === "abort") throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
    if (stopReason === "maxTokens") return "length";
    if (stopReason === "functionCalls") return "tool_calls";
    return "stop";
}

function newToolCallId(): string {
    return `call_${randomBytes(12).toString("hex")}`;
}

/**
 * A model loaded in node-llama-cpp with one context of `parallel` sequences. Each request takes a sequence
 * for its lifetime; node-llama-cpp evaluates the active sequences of a context in shared batches.
 */
export class NodeLlamaCppModel implements LoadedModel {
    public readonly id: string;
    public readonly info: LoadedModelInfo;
    private readonly model: LlamaModel;
    private readonly context: LlamaContext;
    private readonly onDispose: () => void;
    private embeddingContext?: Promise<LlamaEmbeddingContext>;
    private readonly freeSequences: LlamaContextSequence[] = [];
    private disposed = false;

    public constructor(id: string, model: LlamaModel, context: LlamaContext, info: LoadedModelInfo, onDispose: () => void) {
        this.id = id;
        this.model = model;
        this.context = context;
        this.info = info;
        this.onDispose = onDispose;
    }

    public async chat(request: ChatGenerationRequest, callbacks: GenerationCallbacks, signal: AbortSignal): Promise<GenerationResult> {
        const tools = request.toolChoice === "none" ? [] : (request.tools ?? []);
        const forcedTool = this.forcedTool(request, tools);
        if (tools.length > 0 && forcedTool === undefined && request.responseFormat !== undefined && request.responseFormat.type !== "text") {
            throw new UnsupportedRequestError("response_format cannot be combined with tools unless tool_choice names one tool", "response_format");
        }
        const grammar =
            forcedTool !== undefined
                ? await this.grammarFor({ type: "json_schema", schema: forcedTool.parameters ?? { type: "object" } })
                : await this.grammarFor(request.responseFormat);
        const functions: ChatModelFunctions | undefined =
            forcedTool === undefined && tools.length > 0
                ? Object.fromEntries(tools.map((tool) => [tool.name, { description: tool.description, params: tool.parameters as never }]))
                : undefined;

        return this.withSequence(signal, async (sequence) => {
            const chat = new LlamaChat({ contextSequence: sequence, autoDisposeSequence: false });
            try {
                const history = toChatHistory(request.messages);
                const { contextText } = chat.chatWrapper.generateContextState({
                    chatHistory: history,
                    availableFunctions: functions,
                    documentFunctionParams: true
                });
                const promptTokens = contextText.tokenize(this.model.tokenizer).length;
                const maxTokens = this.checkRoom(promptTokens, request.sampling);
                const counter = this.tokenCounter(sequence, promptTokens, callbacks);
                const callIds = new Map<number, string>();
                const response = await chat.generateResponse(history, {
                    ...this.samplingOptions(request.sampling),
                    maxTokens,
                    // node-llama-cpp takes either a grammar or functions, never both (checked above).
                    ...(functions !== undefined ? { functions, documentFunctionParams: true } : { grammar: grammar as undefined }),
                    signal,
                    onToken: counter.onToken,
                    onTextChunk: (text) => {
                        if (forcedTool !== undefined) {
                            callbacks.onDelta?.({ type: "toolCall", index: 0, argumentsDelta: text, ...this.firstDeltaOf(callIds, 0, forcedTool.name) });
                        } else {
                            callbacks.onDelta?.({ type: "text", text });
                        }
                    },
                    onFunctionCallParamsChunk: (chunk) => {
                        callbacks.onDelta?.({
                            type: "toolCall",
                            index: chunk.callIndex,
                            argumentsDelta: chunk.paramsChunk,
                            ...this.firstDeltaOf(callIds, chunk.callIndex, chunk.functionName)
                        });
                    }
                });
                let finishReason = finishReasonOf(response.metadata.stopReason, signal);
                let toolCalls: ToolCall[] = (response.functionCalls ?? []).map((call, index) => ({
                    id: callIds.get(index) ?? newToolCallId(),
                    name: call.functionName,
                    arguments: JSON.stringify(call.params ?? {})
                }));
                let text = response.response;
                if (forcedTool !== undefined) {
                    toolCalls = [{ id: callIds.get(0) ?? newToolCallId(), name: forcedTool.name, arguments: text }];
                    text = "";
                    if (finishReason === "stop") finishReason = "tool_calls";
                }
                return { text, toolCalls, finishReason, promptTokens, completionTokens: counter.count() };
            } finally {
                chat.dispose({ disposeSequence: false });
            }
        });
    }

    public async complete(request: TextGenerationRequest, callbacks: GenerationCallbacks, signal: AbortSignal): Promise<GenerationResult> {
        const grammar = await this.grammarFor(request.responseFormat);
        return this.withSequence(signal, async (sequence) => {
            const completion = new LlamaCompletion({ contextSequence: sequence, autoDisposeSequence: false });
            try {
                const promptTokens = this.model.tokenize(request.prompt).length + (this.model.tokens.shouldPrependBosToken ? 1 : 0);
                const maxTokens = this.checkRoom(promptTokens, request.sampling);
                const counter = this.tokenCounter(sequence, promptTokens, callbacks);
                const result = await completion.generateCompletionWithMeta(request.prompt, {
                    ...this.samplingOptions(request.sampling),
                    maxTokens,
                    grammar,
                    signal,
                    onToken: counter.onToken,
                    onTextChunk: (text) => callbacks.onDelta?.({ type: "text", text })
                });
                return {
                    text: result.response,
                    toolCalls: [],
                    finishReason: finishReasonOf(result.metadata.stopReason, signal),
                    promptTokens,
                    completionTokens: counter.count()
                };
            } finally {
                completion.dispose({ disposeSequence: false });
            }
        });
    }

    public async embed(inputs: string[], signal: AbortSignal): Promise<EmbeddingResult> {
        let promptTokens = 0;
        for (const input of inputs) {
            const tokens = this.model.tokenize(input).length + (this.model.tokens.shouldPrependBosToken ? 1 : 0);
            if (tokens > this.info.contextSize) throw new ContextLengthExceededError(tokens, this.info.contextSize);
            promptTokens += tokens;
        }
        this.embeddingContext ??= this.model.createEmbeddingContext({ contextSize: this.info.contextSize });
        const context = await this.embeddingContext;
        const embeddings: number[][] = [];
        for (const input of inputs) {
            signal.throwIfAborted();
            embeddings.push([...(await context.getEmbeddingFor(input)).vector]);
        }
        return { embeddings, promptTokens };
    }

    public async dispose(): Promise<void> {
        if (this.disposed) return;
        this.disposed = true;
        this.onDispose();
        const embedding = await this.embeddingContext?.catch(() => undefined);
        await embedding?.dispose();
        await this.context.dispose();
        await this.model.dispose();
    }

    /**
     * Runs work on a sequence of the shared context. Sequences are reused rather than disposed: node-llama-cpp
     * reclaims a disposed sequence's id asynchronously, so the next request could find none free. Clearing the
     * history erases the sequence's KV cells before it is handed to the next request.
     */
    private async withSequence<T>(signal: AbortSignal, work: (sequence: LlamaContextSequence) => Promise<T>): Promise<T> {
        signal.throwIfAborted();
        const sequence = this.freeSequences.pop() ?? this.context.getSequence();
        try {
            return await work(sequence);
        } finally {
            await sequence.clearHistory();
            this.freeSequences.push(sequence);
        }
    }

    private checkRoom(promptTokens: number, sampling: SamplingOptions): number {
        const room = this.info.contextSize - promptTokens;
        if (room < 1) throw new ContextLengthExceededError(promptTokens, this.info.contextSize);
        return Math.min(sampling.maxTokens ?? room, room);
    }

    /**
     * Counts generated tokens with the sequence's token meter: LlamaChat's onToken also reports tokens it
     * re-emits around segment and stop-trigger handling, which would overstate usage.
     */
    private tokenCounter(
        sequence: LlamaContextSequence,
        promptTokens: number,
        callbacks: GenerationCallbacks
    ): { onToken(tokens: Token[]): void; count(): number } {
        const outputBefore = sequence.tokenMeter.usedOutputTokens;
        let started = false;
        return {
            onToken: () => {
                if (!started) callbacks.onPromptProcessed?.(promptTokens);
                started = true;
            },
            count: () => sequence.tokenMeter.usedOutputTokens - outputBefore
        };
    }

    private firstDeltaOf(callIds: Map<number, string>, index: number, name: string): { id?: string; name?: string } {
        if (callIds.has(index)) return {};
        const id = newToolCallId();
        callIds.set(index, id);
        return { id, name };
    }

    private forcedTool(request: ChatGenerationRequest, tools: ChatGenerationRequest["tools"] & object): (typeof tools)[number] | undefined {
        const choice = request.toolChoice;
        if (choice === undefined || choice === "auto" || choice === "none") return undefined;
        if (choice === "required") {
            if (tools.length === 1) return tools[0];
            throw new UnsupportedRequestError('tool_choice "required" is supported with exactly one tool; name the tool instead', "tool_choice");
        }
        const tool = tools.find((candidate) => candidate.name === choice.name);
        if (tool === undefined) throw new UnsupportedRequestError(`tool_choice names "${choice.name}", which is not in tools`, "tool_choice");
        return tool;
    }

    private async grammarFor(format: ResponseFormat | undefined): Promise<LlamaGrammar | undefined> {
        if (format === undefined || format.type === "text") return undefined;
        try {
            if (format.type === "json_object") return await this.model.llama.getGrammarFor("json");
            return await this.model.llama.createGrammarForJsonSchema(format.schema as never);
        } catch (error) {
            throw new UnsupportedRequestError(`unsupported JSON schema: ${(error as Error).message}`, "response_format");
        }
    }

    private samplingOptions(sampling: SamplingOptions) {
        const penalties = sampling.presencePenalty !== undefined || sampling.frequencyPenalty !== undefined;
        return {
            temperature: sampling.temperature ?? 0.8,
            topK: sampling.topK,
            topP: sampling.topP,
            minP: sampling.minP,
            seed: sampling.seed,
            customStopTriggers: sampling.stop !== undefined && sampling.stop.length > 0 ? sampling.stop : undefined,
            repeatPenalty: penalties
                ? { penalty: 1, presencePenalty: sampling.presencePenalty ?? 0, frequencyPenalty: sampling.frequencyPenalty ?? 0 }
                : (false as const),
            tokenBias: this.tokenBias(sampling)
        };
    }

    private tokenBias(sampling: SamplingOptions): TokenBias | undefined {
        const biases = Object.entries(sampling.logitBias ?? {});
        if (biases.length === 0 && sampling.ignoreEos !== true) return undefined;
        const bias = new TokenBias(this.model.tokenizer);
        // TokenBias.set() skips end-of-generation tokens on purpose, so biases are written to its map directly
        // (the native sampler reads that map); this is how ignore_eos and OpenAI's raw logit_bias are honoured.
        const map = (bias as unknown as { _biases: Map<Token, number> })._biases;
        for (const [token, value] of biases) {
            map.set(Number(token) as Token, value <= -100 ? -Infinity : value >= 100 ? Infinity : value);
        }
        if (sampling.ignoreEos === true) {
            for (const token of [this.model.tokens.eos, this.model.tokens.eot]) {
                if (token !== null) map.set(token, -Infinity);
            }
        }
        return bias;
    }
}
