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

/** The value at percentile `p` (0-100) of `values`, linearly interpolated between ranks. */
export function percentile(values, p) {
    const sorted = [...values].sort((a, b) => a - b);
    const rank = (p / 100) * (sorted.length - 1);
    const low = Math.floor(rank);
    const high = Math.ceil(rank);
    return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

/**
 * A prompt of `words` words drawn from the common-word vocabulary by a seeded generator: the same seed gives
 * the same text on every side, and different seeds differ early (so no side reuses a cached prompt prefix).
 */
export function wordPrompt(seed, words) {
    const vocabulary = ["the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not", "he", "this", "are", "or"];
    let state = (seed * 2654435761) >>> 0;
    const next = () => {
        // mulberry32
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    return Array.from({ length: words }, () => vocabulary[Math.floor(next() * vocabulary.length)]).join(" ");
}
