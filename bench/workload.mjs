// The workload both sides of the benchmark run, and small statistics helpers.

/** A prompt of plain words; the synthetic vocabulary holds common English words as single tokens. */
export function promptText(seed, words) {
    const vocabulary = ["the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not", "he", "this", "are", "or"];
    return Array.from({ length: words }, (_, index) => vocabulary[(seed * 7 + index * 13) % vocabulary.length]).join(" ");
}

export const WORKLOAD = {
    full: { promptWords: 64, decodeTokens: 128, reps: 3, concurrency: [1, 2, 4], concurrentTokens: 64, contextSize: 1024, parallel: 4 },
    quick: { promptWords: 16, decodeTokens: 16, reps: 1, concurrency: [1, 2], concurrentTokens: 8, contextSize: 512, parallel: 2 }
};

export function median(values) {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** One generation's timings from its token timestamps (ms): TTFT and decode rate like llama-server reports. */
export function summarise(startedAt, tokenTimes, tokens) {
    const first = tokenTimes[0];
    const last = tokenTimes[tokenTimes.length - 1];
    return {
        tokens,
        ttftMs: first - startedAt,
        decodeTps: tokens > 1 && last > first ? (tokens - 1) / ((last - first) / 1000) : 0,
        wallMs: last - startedAt
    };
}
