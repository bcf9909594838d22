import { GgmlType } from "./ggmlEncoding.js";

export const synthQuants = ["f32", "f16", "q8_0"] as const;
/** Type of the 2-D tensors; 1-D norm tensors are always F32. */
export type SynthQuant = typeof synthQuants[number];

export interface SynthPreset {
    readonly description: string;
    /** `general.name` unless overridden. */
    readonly modelName: string;
    readonly embeddingLength: number;
    readonly blockCount: number;
    readonly headCount: number;
    readonly headCountKv: number;
    readonly feedForwardLength: number;
    readonly vocabSize: number;
    /** Trained context length (`llama.context_length`). */
    readonly contextLength: number;
    readonly ropeFreqBase: number;
    readonly rmsNormEpsilon: number;
    readonly defaultQuant: SynthQuant;
}

export const synthPresets = {
    tiny: {
        description: "a few hundred KB, for tests",
        modelName: "synthetic-tiny",
        embeddingLength: 64,
        blockCount: 2,
        headCount: 4,
        headCountKv: 2,
        feedForwardLength: 128,
        vocabSize: 512,
        contextLength: 4096,
        ropeFreqBase: 10000,
        rmsNormEpsilon: 1e-6,
        defaultQuant: "f32"
    },
    // Qwen2.5-0.5B: hidden 896, 24 layers, 14 heads (head dim 64), 2 KV heads, intermediate 4864,
    // vocabulary 151936, 32768 positions, rope theta 1e6. About 640 MB as Q8_0.
    qwen05: {
        description: "Qwen2.5-0.5B's shape, for benchmarks (~640 MB as Q8_0)",
        modelName: "synthetic-qwen05-shape",
        embeddingLength: 896,
        blockCount: 24,
        headCount: 14,
        headCountKv: 2,
        feedForwardLength: 4864,
        vocabSize: 151936,
        contextLength: 32768,
        ropeFreqBase: 1000000,
        rmsNormEpsilon: 1e-6,
        defaultQuant: "q8_0"
    },
    // Llama-3-8B: hidden 4096, 32 layers, 32 heads (head dim 128), 8 KV heads, intermediate 14336,
    // vocabulary 128256, 8192 positions, rope theta 5e5. About 8.5 GB as Q8_0.
    // (The name avoids "llama3": node-llama-cpp would pick its Llama 3 chat wrapper from it.)
    llama8b: {
        description: "Llama-3-8B's shape, for GPU benchmarks (~8.5 GB as Q8_0)",
        modelName: "synthetic-llama8b-shape",
        embeddingLength: 4096,
        blockCount: 32,
        headCount: 32,
        headCountKv: 8,
        feedForwardLength: 14336,
        vocabSize: 128256,
        contextLength: 8192,
        ropeFreqBase: 500000,
        rmsNormEpsilon: 1e-5,
        defaultQuant: "q8_0"
    }
} as const satisfies Record<string, SynthPreset>;

export type SynthPresetName = keyof typeof synthPresets;
export const synthPresetNames = Object.keys(synthPresets) as SynthPresetName[];

export function isSynthPresetName(value: string): value is SynthPresetName {
    return Object.hasOwn(synthPresets, value);
}

export function isSynthQuant(value: string): value is SynthQuant {
    return (synthQuants as readonly string[]).includes(value);
}

export function ggmlTypeForQuant(quant: SynthQuant): GgmlType {
    switch (quant) {
        case "f32": return GgmlType.F32;
        case "f16": return GgmlType.F16;
        case "q8_0": return GgmlType.Q8_0;
    }
}

/** llama.cpp's `llama_ftype` for `general.file_type`. */
export function fileTypeForQuant(quant: SynthQuant): number {
    switch (quant) {
        case "f32": return 0; // ALL_F32
        case "f16": return 1; // MOSTLY_F16
        case "q8_0": return 7; // MOSTLY_Q8_0
    }
}
