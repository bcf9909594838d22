/** What the registry knows about a GGUF file from its header (no weights are read). */
export interface ModelSummary {
    architecture: string;
    name?: string;
    /** Total parameters, summed over the tensors' shapes. */
    parameterCount: number;
    /** llama.cpp file type, e.g. "MOSTLY_Q8_0". */
    quantization?: string;
    trainedContextSize?: number;
    embeddingSize?: number;
    layerCount?: number;
    vocabularySize?: number;
    hasChatTemplate: boolean;
}
