/** What the llama-server engine needs from a GGUF header: KV cache size per token and the pooling type. */
export interface ModelShape {
    fileBytes: number;
    /** Bytes of an F16 KV cache per context token (all layers, K and V). */
    kvBytesPerToken: number;
    /** `<arch>.pooling_type` (0 none, 1 mean, 2 cls, 3 last, 4 rank), undefined when not set. */
    poolingType?: number;
}

function asNumber(value: unknown): number | undefined {
    if (typeof value === "number") return value;
    if (typeof value === "bigint") return Number(value);
    if (Array.isArray(value) && value.length > 0) return Math.max(...value.map((item) => asNumber(item) ?? 0));
    return undefined;
}

/** Reads the header only (node-llama-cpp's GGUF reader, imported on demand: no native code is loaded). */
export async function readModelShape(path: string): Promise<ModelShape> {
    const { readGgufFileInfo } = await import("node-llama-cpp");
    const { stat } = await import("node:fs/promises");
    const info = await readGgufFileInfo(path, {
        sourceType: "filesystem",
        logWarnings: false,
        ignoreKeys: ["tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"]
    });
    const arch = info.architectureMetadata as Record<string, unknown>;
    const attention = (arch.attention ?? {}) as Record<string, unknown>;
    const layers = asNumber(arch.block_count) ?? 0;
    const embedding = asNumber(arch.embedding_length) ?? 0;
    const heads = asNumber(attention.head_count) ?? 1;
    const kvHeads = asNumber(attention.head_count_kv) ?? heads;
    const keyLength = asNumber(attention.key_length) ?? Math.floor(embedding / Math.max(1, heads));
    const valueLength = asNumber(attention.value_length) ?? keyLength;
    return {
        fileBytes: (await stat(path)).size,
        kvBytesPerToken: layers * kvHeads * (keyLength + valueLength) * 2,
        poolingType: asNumber(arch.pooling_type)
    };
}

/** Parallel sequence counts tried, largest first, when the config leaves `parallel` at 0 (as the in-process engine). */
const AUTO_PARALLEL_GPU = [16, 8, 4, 2, 1];
const AUTO_PARALLEL_CPU = [4, 2, 1];

/**
 * The most sequences whose KV cache fits the budget: on a GPU 80 % of free VRAM less the weights, on the
 * CPU half the free RAM (the weights are memory-mapped and shared with the page cache). Pure.
 */
export function chooseParallel(shape: ModelShape, contextSize: number, memory: { onGpu: boolean; freeBytes: number }): number {
    const budget = memory.onGpu ? memory.freeBytes * 0.8 - shape.fileBytes : memory.freeBytes * 0.5;
    for (const sequences of memory.onGpu ? AUTO_PARALLEL_GPU : AUTO_PARALLEL_CPU) {
        if (sequences * contextSize * shape.kvBytesPerToken <= budget) return sequences;
    }
    return 1;
}
