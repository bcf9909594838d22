import { setTimeout as delay } from "node:timers/promises";

export interface RetryWithBackoffOptions {
    /** Attempts after the first one; 0 tries once. */
    retries: number;
    /** Wait before the first retry, in ms; it doubles for each further retry. */
    baseDelayMs: number;
    /** Upper bound of one wait, in ms. Defaults to 30 000. */
    maxDelayMs?: number;
    /** Whether a failure is transient; anything else is thrown at once. */
    isRetryable(error: unknown): boolean;
    /** Called before each wait (for logs). */
    onRetry?(error: unknown, attempt: number, delayMs: number): void;
    /** Stops waiting and retrying; the abort reason is thrown. */
    signal?: AbortSignal;
}

/**
 * Runs `operation` until it succeeds, a failure is not retryable, or the retries are spent (then the last
 * error is thrown). Waits are `baseDelayMs * 2^n` plus up to 25 % jitter, so concurrent writers spread out.
 */
export async function retryWithBackoff<T>(operation: (attempt: number) => Promise<T>, options: RetryWithBackoffOptions): Promise<T> {
    const maxDelayMs = options.maxDelayMs ?? 30_000;
    for (let attempt = 0; ; attempt++) {
        options.signal?.throwIfAborted();
        try {
            return await operation(attempt);
        } catch (error) {
            if (options.signal?.aborted === true) throw options.signal.reason ?? error;
            if (attempt >= options.retries || !options.isRetryable(error)) throw error;
            const base = Math.min(maxDelayMs, options.baseDelayMs * 2 ** attempt);
            const waitMs = Math.round(base * (1 + Math.random() * 0.25));
            options.onRetry?.(error, attempt + 1, waitMs);
            await delay(waitMs, undefined, { signal: options.signal }).catch((abortError: unknown) => {
                throw options.signal?.reason ?? abortError;
            });
        }
    }
}
