import { statSync } from "node:fs";
import type { ModelSummary } from "./ModelSummary.js";

function asNumber(value: unknown): number | undefined {
    if (typeof value === "number") return value;
    if (typeof value === "bigint") return Number(value);
    return undefined;
}

/**
 * Reads a GGUF header with node-llama-cpp's reader and condenses it; throws on a corrupt or unreadable file.
 * node-llama-cpp is imported here, on first use (no native code is loaded): summaries are cached in SQLite, so
 * most starts never read a header and skip the ~300 ms the import costs.
 */
export async function readModelSummary(path: string): Promise<ModelSummary> {
    const { GgufFileType, readGgufFileInfo } = await import("node-llama-cpp");
    const info = await readGgufFileInfo(path, {
        sourceType: "filesystem",
        logWarnings: false,
        spliceSplitFiles: false,
        // The vocabulary can be hundreds of thousands of strings and we only need its length.
        ignoreKeys: ["tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"]
    });
    const general = info.metadata.general;
    if (general?.architecture === undefined) throw new Error("GGUF metadata has no general.architecture");
    const architecture = info.architectureMetadata as Record<string, unknown>;
    const tokens = info.metadata.tokenizer?.ggml?.tokens;
    let parameterCount = 0;
    for (const tensor of info.fullTensorInfo ?? info.tensorInfo ?? []) {
        parameterCount += tensor.dimensions.reduce<number>((product, dimension) => product * Number(dimension), 1);
    }
    // A truncated download has a valid header but tensors past the end of the file; loading such a file
    // fails deep in llama.cpp (and can leave node-llama-cpp unable to shut down), so refuse it here.
    const fileSize = statSync(path).size;
    const lastTensorStart = Math.max(0, ...(info.tensorInfo ?? []).map((tensor) => Number(tensor.fileOffset)));
    if (lastTensorStart >= fileSize) {
        throw new Error(`truncated file: tensor data starts past the end of the file (${fileSize} bytes)`);
    }
    const fileType = general.file_type;
    return {
        architecture: String(general.architecture),
        name: typeof general.name === "string" ? general.name : undefined,
        parameterCount,
        quantization: fileType !== undefined ? (GgufFileType[fileType] ?? String(fileType)) : undefined,
        trainedContextSize: asNumber(architecture.context_length),
        embeddingSize: asNumber(architecture.embedding_length),
        layerCount: asNumber(architecture.block_count),
        vocabularySize: Array.isArray(tokens) ? tokens.length : undefined,
        hasChatTemplate: typeof info.metadata.tokenizer?.chat_template === "string"
    };
}
