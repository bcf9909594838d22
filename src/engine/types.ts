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
    dispose(): Promise<void>;
}

export interface InferenceEngine {
    readonly name: string;
    describe(): EngineDescription;
    /** Loads a model; `signal` aborts a load in progress (shutdown). */
    loadModel(spec: ModelLoadSpec, signal?: AbortSignal): Promise<LoadedModel>;
    dispose(): Promise<void>;
}
