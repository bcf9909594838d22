import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyModel } from "../helpers/models.js";
import { startServer, tempDataDir, type RunningServer } from "../helpers/server.js";

let server: RunningServer;

beforeAll(async () => {
    const dataDir = tempDataDir();
    mkdirSync(join(dataDir, "models"), { recursive: true });
    await makeTinyModel(join(dataDir, "models"), "tiny");
    writeFileSync(join(dataDir, "mentator-llm-service.conf.jsonc"), JSON.stringify({ parallel: 2, contextSize: 4096, limits: { maxQueue: 2 } }));
    server = await startServer({ dataDir });
    await server.waitReady();
});

afterAll(async () => {
    await server?.stop("SIGTERM");
});

interface StreamOutcome {
    status: number;
    retryAfter: string | null;
    answeredAt: number;
    firstChunkAt?: number;
    finishedAt?: number;
    finishReason?: string;
    body?: unknown;
}

/** A streaming chat request that generates `tokens` tokens (EOS ignored), read chunk by chunk. */
async function streamChat(tokens: number, options: { signal?: AbortSignal; onChunk?: (count: number) => void } = {}): Promise<StreamOutcome> {
    const response = await fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny", stream: true, max_tokens: tokens, ignore_eos: true, temperature: 0, messages: [{ role: "user", content: "go" }] }),
        signal: options.signal
    });
    const outcome: StreamOutcome = { status: response.status, retryAfter: response.headers.get("retry-after"), answeredAt: performance.now() };
    if (response.status !== 200) {
        outcome.body = await response.json();
        return outcome;
    }
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let chunks = 0;
    try {
        for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += decoder.decode(value, { stream: true });
            const events = buffer.split("\n\n");
            buffer = events.pop() ?? "";
            for (const event of events) {
                const data = event.replace(/^data: /, "");
                if (data === "[DONE]") continue;
                const parsed = JSON.parse(data) as { choices: Array<{ finish_reason: string | null }> };
                outcome.firstChunkAt ??= performance.now();
                chunks++;
                options.onChunk?.(chunks);
                outcome.finishReason = parsed.choices[0]?.finish_reason ?? outcome.finishReason;
            }
        }
    } catch (error) {
        if ((error as Error).name !== "AbortError") throw error;
        return outcome;
    }
    outcome.finishedAt = performance.now();
    return outcome;
}

describe("bounded queue with parallel: 2 and maxQueue: 2", { timeout: 180_000 }, () => {
    it("answers the excess of 12 concurrent streams with 503 at once and completes the rest", async () => {
        const outcomes = await Promise.all(Array.from({ length: 12 }, () => streamChat(1500)));
        const accepted = outcomes.filter((outcome) => outcome.status === 200);
        const rejected = outcomes.filter((outcome) => outcome.status === 503);
        expect(accepted.length + rejected.length).toBe(12);
        expect(accepted.length).toBeGreaterThanOrEqual(4);
        expect(rejected.length).toBeGreaterThanOrEqual(6);
        for (const outcome of accepted) expect(outcome.finishReason).toBe("length");
        const firstFinished = Math.min(...accepted.map((outcome) => outcome.finishedAt!));
        for (const outcome of rejected) {
            expect(outcome.retryAfter).not.toBeNull();
            expect(outcome.body).toMatchObject({ error: { code: "queue_full", type: "server_error" } });
            // Rejected on arrival, not after waiting for a running request to end.
            expect(outcome.answeredAt).toBeLessThan(firstFinished);
        }
        const metrics = await (await fetch(`${server.url}/metrics`)).text();
        expect(metrics).toMatch(/mentator:queue_rejections_total\{model="tiny"\} [1-9]/);
    });

    it("aborting a stream mid-way lets a queued request start at once", async () => {
        const controller = new AbortController();
        let aborted = 0;
        const first = streamChat(3000, {
            signal: controller.signal,
            onChunk: (count) => {
                if (count === 20) {
                    aborted = performance.now();
                    controller.abort();
                }
            }
        });
        const second = streamChat(3000);
        await new Promise((resolve) => setTimeout(resolve, 100));
        const queued = streamChat(50);
        const [, secondOutcome, queuedOutcome] = await Promise.all([first, second, queued]);
        expect(aborted).toBeGreaterThan(0);
        expect(queuedOutcome.status).toBe(200);
        expect(queuedOutcome.finishReason).toBe("length");
        // The queued request ran in the aborted request's sequence while the other stream was still going.
        expect(queuedOutcome.finishedAt!).toBeLessThan(secondOutcome.finishedAt!);
        const health = (await (await fetch(`${server.url}/health`)).json()) as { queue: { running: number; waiting: number } };
        expect(health.queue).toMatchObject({ running: 0, waiting: 0 });
    });
});
