/**
 * The engine boundary. HTTP, jobs, the scheduler and the pool only see these types; each engine
 * (node-llama-cpp in process, a managed llama-server, an upstream OpenAI-compatible URL) implements them.
 */

export interface ModelLoadSpec {
    id: string;
    /** Absolute GGUF path (undefined for upstream models). */
    path?: string;
    /** Context tokens per sequence. */
    contextSize: number;
    /** Parallel sequences; 0 lets the engine choose from free memory. */
    parallel: number;
    gpuLayers?: number | "auto" | "max";
    /** CPU threads; 0 or undefined = engine default. */
    threads?: number;
    /** Base URL and model name for upstream models. */
    upstream?: { baseUrl: string; model: string; apiKey?: string };
}

export interface LoadedModelInfo {
    /** Context tokens per sequence, as created (may be rounded up by the engine). */
    contextSize: number;
    /** Sequences that can generate at the same time. */
    parallel: number;
    trainedContextSize?: number;
    embeddingSize?: number;
    hasChatTemplate: boolean;
}

export interface EngineDescription {
    name: string;
    version: string;
    /** Hardware backend in use: cuda, rocm, vulkan, cpu. */
    backend: string;
    details?: Record<string, string | number | boolean>;
}

/** A model resident in an engine. Disposing it frees its memory; it must not be used afterwards. */
export interface LoadedModel {
    readonly id: string;
    readonly info: LoadedModelInfo;
    /**
     * Generates a chat response. At most `info.parallel` calls (chat, complete, embed together) may run at once;
     * the scheduler guarantees it. An aborted signal stops generation and frees the sequence.
     * Throws ContextLengthExceededError before generating when the prompt does not fit.
     */
    chat(request: ChatGenerationRequest, callbacks: GenerationCallbacks, signal: AbortSignal): Promise<GenerationResult>;
    complete(request: TextGenerationRequest, callbacks: GenerationCallbacks, signal: AbortSignal): Promise<GenerationResult>;
    embed(inputs: string[], signal: AbortSignal): Promise<EmbeddingResult>;
    dispose(): Promise<void>;
}

export interface InferenceEngine {
    readonly name: string;
    describe(): EngineDescription;
    /** Loads a model; `signal` aborts a load in progress (shutdown). */
    loadModel(spec: ModelLoadSpec, signal?: AbortSignal): Promise<LoadedModel>;
    dispose(): Promise<void>;
}

/* ---- Generation requests: engine-neutral, produced by the OpenAI converters and the job runner. ---- */

export interface SamplingOptions {
    /** Upper bound on generated tokens; capped by the free context. */
    maxTokens?: number;
    temperature?: number;
    topP?: number;
    topK?: number;
    minP?: number;
    seed?: number;
    stop?: string[];
    /** Keep generating past end-of-sequence tokens (benchmarks). */
    ignoreEos?: boolean;
    presencePenalty?: number;
    frequencyPenalty?: number;
    /** Token id -> bias added to its logit (OpenAI semantics: -100 bans, 100 forces). */
    logitBias?: Record<number, number>;
}

export interface ToolCall {
    id: string;
    name: string;
    /** JSON text of the arguments. */
    arguments: string;
}

export type ChatMessage =
    | { role: "system" | "user"; content: string }
    | { role: "assistant"; content: string; toolCalls?: ToolCall[] }
    | { role: "tool"; content: string; toolCallId?: string };

export interface ToolDefinition {
    name: string;
    description?: string;
    /** JSON schema of the arguments object. */
    parameters?: Record<string, unknown>;
}

export type ToolChoice = "auto" | "none" | "required" | { name: string };

export type ResponseFormat = { type: "text" } | { type: "json_object" } | { type: "json_schema"; schema: Record<string, unknown> };

export interface ChatGenerationRequest {
    messages: ChatMessage[];
    tools?: ToolDefinition[];
    toolChoice?: ToolChoice;
    responseFormat?: ResponseFormat;
    sampling: SamplingOptions;
}

export interface TextGenerationRequest {
    prompt: string;
    responseFormat?: ResponseFormat;
    sampling: SamplingOptions;
}

/** A piece of streamed output. Tool call deltas carry the call's index; name and id come with its first delta. */
export type GenerationDelta =
    | { type: "text"; text: string }
    | { type: "toolCall"; index: number; id?: string; name?: string; argumentsDelta: string };

export type FinishReason = "stop" | "length" | "tool_calls";

export interface GenerationResult {
    text: string;
    toolCalls: ToolCall[];
    finishReason: FinishReason;
    promptTokens: number;
    completionTokens: number;
}

export interface GenerationCallbacks {
    /** Called for each piece of output as soon as it is decoded. */
    onDelta?(delta: GenerationDelta): void;
    /** Called once the prompt is processed, with its size in tokens. */
    onPromptProcessed?(promptTokens: number): void;
    /**
     * True when deltas reach a client as they come (a stream), so an engine that generates a request again
     * must reproduce what was already sent. False or absent: deltas are only observed (metrics).
     */
    streamed?: boolean;
}

export interface EmbeddingResult {
    embeddings: number[][];
    promptTokens: number;
}
