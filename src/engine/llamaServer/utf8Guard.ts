import { EngineRequestError } from "../engineErrors.js";

/**
 * llama-server's known fault: its chat/content parser rejects generated text that is not valid UTF-8 (a lone
 * byte token such as <0x80>, or a lead byte followed by a non-continuation), and the request ends in HTTP
 * 500 "The model produced output that does not match the expected ... format" (llama.cpp v0.4.0, every
 * endpoint, also as an error event mid-stream). See bench/NOTES.md for the measurements behind this guard.
 *
 * The guard: a grammar that accepts any text of valid UTF-8 code points. llama.cpp samples first and checks
 * only the sampled token against the grammar (rejection sampling): a token that keeps the text valid, which
 * is nearly every token, is taken unchanged, with the same random draw, so outputs are the same as without
 * the guard; only a token that would break UTF-8 is refused and drawn again from the valid ones. Byte tokens
 * stay allowed wherever they form valid characters. Requests that carry a grammar of their own (JSON
 * schema, JSON object, forced tool calls) are already held to code points by it.
 */
export const VALID_UTF8_GRAMMAR = "root ::= [^\\x00]*";

/**
 * True for llama-server's invalid-UTF-8 fault. The one case the grammar cannot cover is tools with
 * tool_choice "auto" (llama-server refuses a grammar next to tools); the model retries those once.
 */
export function isUtf8Fault(error: unknown): boolean {
    return error instanceof EngineRequestError && /does not match the expected .* format/.test(error.message);
}

/** GPT-2's byte-level BPE alphabet: the printable character that stands for each byte in the vocabulary. */
function byteLevelChar(byte: number): string {
    const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    if (printable(byte)) return String.fromCodePoint(byte);
    let shifted = 0;
    for (let b = 0; b < byte; b++) if (!printable(b)) shifted++;
    return String.fromCodePoint(256 + shifted);
}

/**
 * Ids of the single-byte tokens for bytes 0x80-0xFF (SentencePiece `<0x80>`..`<0xFF>`, byte-level BPE's
 * one-character tokens): the tokens a retry after the fault bans. Empty for other vocabularies.
 */
export function highByteTokenIds(model: string | undefined, tokens: readonly string[]): number[] {
    const wanted = new Map<string, number>();
    for (let byte = 0x80; byte <= 0xff; byte++) {
        const text = model === "llama" ? `<0x${byte.toString(16).toUpperCase()}>` : model === "gpt2" ? byteLevelChar(byte) : undefined;
        if (text !== undefined) wanted.set(text, byte);
    }
    const ids: number[] = [];
    for (const [id, token] of tokens.entries()) if (wanted.has(token)) ids.push(id);
    return ids;
}

/** Reads the vocabulary from the GGUF header (once per model, only after a fault) and picks the high-byte tokens. */
export async function readHighByteTokenIds(path: string): Promise<number[]> {
    const { readGgufFileInfo } = await import("node-llama-cpp");
    const info = await readGgufFileInfo(path, {
        sourceType: "filesystem",
        logWarnings: false,
        ignoreKeys: ["tokenizer.ggml.scores", "tokenizer.ggml.merges", "tokenizer.ggml.token_type"]
    });
    const tokenizer = info.metadata.tokenizer?.ggml;
    return highByteTokenIds(tokenizer?.model, (tokenizer?.tokens ?? []) as readonly string[]);
}
