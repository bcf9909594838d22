import { EngineRequestError } from "../engineErrors.js";
import type { EmbeddingResult } from "../types.js";

/** Reads an OpenAI embeddings answer (`data[].embedding` by `index`, `usage.prompt_tokens`). */
export function parseEmbeddings(modelId: string, answer: Record<string, unknown>, expected: number, peer: string): EmbeddingResult {
    const data = Array.isArray(answer.data) ? answer.data : [];
    const embeddings: number[][] = new Array<number[]>(expected);
    for (const [position, raw] of data.entries()) {
        const item = raw as { index?: unknown; embedding?: unknown };
        const index = typeof item.index === "number" ? item.index : position;
        if (!Array.isArray(item.embedding) || index < 0 || index >= expected) continue;
        embeddings[index] = item.embedding as number[];
    }
    for (let index = 0; index < expected; index++) {
        if (embeddings[index] === undefined) throw new EngineRequestError(modelId, `${peer} returned no embedding for input ${index}`);
    }
    const usage = answer.usage as { prompt_tokens?: unknown } | undefined;
    return { embeddings, promptTokens: typeof usage?.prompt_tokens === "number" ? usage.prompt_tokens : 0 };
}
