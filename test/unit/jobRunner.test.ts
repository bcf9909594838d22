import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config/schema.js";
import { openDatabase, type SqliteDatabase } from "../../src/db/openDatabase.js";
import type { GenerationResult } from "../../src/engine/types.js";
import { JobRunner, type JobSettings } from "../../src/jobs/JobRunner.js";
import { jobStatusBody } from "../../src/jobs/jobStatusBody.js";
import { JobStore } from "../../src/jobs/JobStore.js";
import { JobTimeoutError } from "../../src/jobs/JobTimeoutError.js";
import { runJobOnce, type JobDeps } from "../../src/jobs/runJobOnce.js";
import { ModelNotFoundError } from "../../src/models/modelErrors.js";
import type { GenerationHooks, GenerationJob, RequestMeta } from "../../src/service/InferenceService.js";
import { Base64Sink } from "../../src/storage/Base64Sink.js";
import { InlineSink } from "../../src/storage/InlineSink.js";
import { createLogger } from "../../src/util/logger.js";

/** Emits `tokens` deltas `delayMs` apart per request; stops at once when aborted. */
class FakeInference {
    public tokens = 4;
    public delayMs = 2;
    public deltas = 0;
    public aborts = 0;
    public requests: RequestMeta[] = [];

    public async generateMany(modelId: string, jobs: GenerationJob[], hooks: GenerationHooks, signal: AbortSignal, meta: RequestMeta): Promise<GenerationResult[]> {
        this.requests.push(meta);
        if (modelId === "missing") throw new ModelNotFoundError(modelId);
        hooks.onStart?.();
        const results: GenerationResult[] = [];
        for (const [index] of jobs.entries()) {
            let text = "";
            for (let token = 0; token < this.tokens; token++) {
                try {
                    await sleep(this.delayMs, undefined, { signal });
                } catch {
                    this.aborts++;
                    throw signal.reason as Error;
                }
                const piece = `t${token} `;
                text += piece;
                this.deltas++;
                hooks.onDelta?.({ type: "text", text: piece }, index);
            }
            results.push({ text, toolCalls: [], finishReason: "length", promptTokens: 3, completionTokens: this.tokens });
        }
        return results;
    }

    public async embed(_modelId: string, inputs: string[]) {
        return { embeddings: inputs.map((_, index) => [index, 0.5]), promptTokens: inputs.length };
    }
}

const log = createLogger("silent");
let inference: FakeInference;
let deps: JobDeps;
let db: SqliteDatabase;
const batchFiles = new Map<string, string>();

function settings(overrides: Partial<JobSettings> = {}): JobSettings {
    return { ...configSchema.parse({}).jobs, webhookRetryBaseMs: 10, ...overrides };
}

beforeEach(() => {
    inference = new FakeInference();
    deps = {
        inference,
        defaultModelId: () => "fake",
        createSink: async (mode) => (mode === "base64" ? new Base64Sink() : new InlineSink()),
        defaultOutputMode: "inline",
        readBatchUrl: async (url) => {
            const text = batchFiles.get(url);
            if (text === undefined) throw new Error("HTTP 404");
            return text;
        },
        batchConcurrency: 2
    };
    db = openDatabase(":memory:");
});

afterEach(() => {
    db.close();
});

const signal = () => new AbortController().signal;

describe("runJobOnce", () => {
    it("answers the short form in worker-vllm's shape, inline or base64", async () => {
        const input = { prompt: "hi", sampling_params: { max_tokens: 4 } };
        const inline = await runJobOnce(input, deps, { signal: signal(), jobId: "j1" });
        const expected = [{ choices: [{ tokens: ["t0 t1 t2 t3 "], finish_reason: "length" }], usage: { input: 3, output: 4 } }];
        expect(inline.output).toEqual(expected);
        expect(inference.requests[0]).toEqual({ requestId: "j1", route: "job:/v1/completions", stream: false });
        const encoded = await runJobOnce(input, deps, { signal: signal(), output: "base64" });
        expect(JSON.parse(Buffer.from(encoded.output as string, "base64").toString("utf8"))).toEqual(expected);
        expect(encoded.document.format).toBe("json");
    });

    it("gives OpenAI bodies and stream chunks for openai_route", async () => {
        const chunks: unknown[] = [];
        const result = await runJobOnce(
            { openai_route: "/v1/chat/completions", openai_input: { messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { include_usage: true } } },
            deps,
            { signal: signal(), jobId: "j2", onPartial: (chunk) => chunks.push(chunk) }
        );
        expect(result.output).toMatchObject({ id: "chatcmpl-j2", object: "chat.completion", model: "fake", choices: [{ message: { role: "assistant", content: "t0 t1 t2 t3 " } }] });
        const deltas = chunks as Array<{ choices: Array<{ delta: { role?: string; content?: string }; finish_reason: string | null }>; usage?: unknown }>;
        expect(deltas[0]!.choices[0]!.delta.role).toBe("assistant");
        expect(deltas.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")).toBe("t0 t1 t2 t3 ");
        expect(deltas.at(-2)!.choices[0]!.finish_reason).toBe("length");
        expect(deltas.at(-1)!.usage).toEqual({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    });

    it("publishes nothing for jobs that do not stream, and token batches for the short form", async () => {
        const none: unknown[] = [];
        await runJobOnce({ prompt: "x" }, deps, { signal: signal(), onPartial: (chunk) => none.push(chunk) });
        expect(none).toEqual([]);
        const batches: unknown[] = [];
        await runJobOnce({ prompt: "x", stream: true, max_batch_size: 3 }, deps, { signal: signal(), onPartial: (chunk) => batches.push(chunk) });
        expect(batches).toEqual([{ choices: [{ tokens: ["t0 ", "t1 ", "t2 "] }] }, { choices: [{ tokens: ["t3 "] }], usage: { input: 3, output: 4 } }]);
    });

    it("writes one JSONL line per batch request, errors included", async () => {
        const result = await runJobOnce(
            {
                batch: [
                    { prompt: "a", use_openai_format: true },
                    { prompt: "b", model: "missing" },
                    { custom_id: "emb", url: "/v1/embeddings", body: { input: ["x", "y"] } },
                    { custom_id: "bad", url: "/v1/completions", body: { prompt: "z", model: "missing" } }
                ]
            },
            deps,
            { signal: signal(), jobId: "b1" }
        );
        expect(result.document.format).toBe("jsonl");
        const lines = result.document.body.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
        expect(lines).toHaveLength(4);
        expect(lines[0]).toMatchObject({ id: "cmpl-b1-0", object: "text_completion", choices: [{ text: "t0 t1 t2 t3 " }] });
        expect(lines[1]).toEqual({ error: { message: 'model "missing" not found', type: "invalid_request_error", code: "model_not_found", param: "model" } });
        expect(lines[2]).toMatchObject({ custom_id: "emb", error: null, response: { status_code: 200, body: { object: "list", data: [{ embedding: [0, 0.5] }, { embedding: [1, 0.5] }] } } });
        expect(lines[3]).toMatchObject({ custom_id: "bad", response: null, error: { code: "model_not_found" } });
        // Inline output of a batch: one entry per line.
        expect(result.output).toHaveLength(4);
    });

    it("fails a batch whose every request fails, and reads batch_url documents", async () => {
        await expect(runJobOnce({ batch: [{ prompt: "a", model: "missing" }] }, deps, { signal: signal() })).rejects.toThrow(
            /all 1 requests of the batch failed; the first \(line 1\): model "missing" not found/
        );
        batchFiles.set("https://files.test/b.jsonl", '{"prompt":"a"}\n{"prompt":"b"}\n');
        const result = await runJobOnce({ batch_url: "https://files.test/b.jsonl" }, deps, { signal: signal() });
        expect(result.document.body.trim().split("\n")).toHaveLength(2);
        await expect(runJobOnce({ batch_url: "https://files.test/none.jsonl" }, deps, { signal: signal() })).rejects.toThrow(
            "cannot read batch_url https://files.test/none.jsonl: HTTP 404"
        );
        batchFiles.set("https://files.test/bad.jsonl", '{"prompt":"a"}\n{"promt":"b"}\n');
        await expect(runJobOnce({ batch_url: "https://files.test/bad.jsonl" }, deps, { signal: signal() })).rejects.toThrow(/^batch_url line 2\.promt: unknown field/);
    });

    it("times out and stops generating", async () => {
        inference.tokens = 1000;
        inference.delayMs = 5;
        const started = Date.now();
        await expect(runJobOnce({ prompt: "x" }, deps, { signal: signal(), executionTimeoutMs: 60 })).rejects.toBeInstanceOf(JobTimeoutError);
        expect(Date.now() - started).toBeLessThan(2000);
        expect(inference.aborts).toBe(1);
    });

    it("validates raw input even when it looks parsed, and checks the sink before generating", async () => {
        await expect(runJobOnce({ kind: "single", request: {} }, deps, { signal: signal() })).rejects.toThrow(/^input\.kind: unknown field/);
        deps.createSink = async (mode) => {
            throw new Error(`output mode ${mode} needs a bucket`);
        };
        await expect(runJobOnce({ prompt: "x", output: "s3" }, deps, { signal: signal() })).rejects.toThrow("output mode s3 needs a bucket");
        expect(inference.requests).toEqual([]);
    });

    it("waits for no default model and says why", async () => {
        deps.defaultModelId = () => undefined;
        deps.noDefaultModelReason = () => "no models in /data/models";
        await expect(runJobOnce({ prompt: "x" }, deps, { signal: signal() })).rejects.toThrow(
            "model: the request names no model and there is no default model (no models in /data/models)"
        );
    });
});

describe("JobStore", () => {
    it("recovers interrupted jobs: re-queued, or FAILED with the reason past maxAttempts", () => {
        const store = new JobStore(db);
        store.create({ id: "a", endpoint: "e", input: { prompt: "x" }, executionTimeoutMs: 1000, ttlMs: 1000 });
        store.create({ id: "b", endpoint: "e", input: { prompt: "x" }, executionTimeoutMs: 1000, ttlMs: 1000 });
        expect(store.claimNext()!.id).toBe("a");
        expect(store.claimNext()!.id).toBe("b");
        // b has crashed twice already.
        db.prepare("UPDATE jobs SET attempts = 2 WHERE id = 'b'").run();
        const report = store.recoverInterrupted(2);
        expect(report).toEqual({ requeued: ["a"], failed: ["b"] });
        expect(store.get("a")).toMatchObject({ status: "IN_QUEUE", attempts: 1 });
        expect(store.get("b")!.status).toBe("FAILED");
        expect(store.get("b")!.error).toMatch(/the service stopped while this job was running, 2 times \(jobs\.maxAttempts = 2\)/);
    });

    it("purges finished jobs after their TTL, counted from completion", () => {
        let now = 1_000_000;
        const store = new JobStore(db, { now: () => now });
        store.create({ id: "done", endpoint: "e", input: {}, executionTimeoutMs: 1000, ttlMs: 5000 });
        store.create({ id: "queued", endpoint: "e", input: {}, executionTimeoutMs: 1000, ttlMs: 5000 });
        store.claimNext();
        now += 100;
        expect(store.complete("done", { ok: true })).toBe(true);
        expect(jobStatusBody(store.get("done")!)).toEqual({ id: "done", status: "COMPLETED", delayTime: 0, executionTime: 100, output: { ok: true } });
        now += 4999;
        expect(store.purgeExpired()).toBe(0);
        now += 1;
        expect(store.purgeExpired()).toBe(1);
        expect(store.get("done")).toBeUndefined();
        expect(store.get("queued")!.status).toBe("IN_QUEUE");
    });

    it("hands out each stream chunk once and never reopens a finished job", () => {
        const store = new JobStore(db);
        store.create({ id: "s", endpoint: "e", input: {}, executionTimeoutMs: 1000, ttlMs: 1000 });
        store.claimNext();
        store.appendStream("s", { n: 1 });
        store.appendStream("s", { n: 2 });
        expect(store.takeStream("s")).toEqual([{ n: 1 }, { n: 2 }]);
        expect(store.takeStream("s")).toEqual([]);
        store.appendStream("s", { n: 3 });
        expect(store.hasUnreadStream("s")).toBe(true);
        expect(store.takeStream("s")).toEqual([{ n: 3 }]);
        expect(store.cancel("s")).toBe("IN_PROGRESS");
        expect(store.complete("s", "late")).toBe(false);
        expect(store.get("s")!.status).toBe("CANCELLED");
        expect(store.requeue("s", true)).toBe(false);
    });
});

describe("JobRunner", () => {
    let runner: JobRunner;
    let store: JobStore;

    const makeRunner = (overrides: Partial<JobSettings> = {}): JobRunner => {
        store = new JobStore(db);
        runner = new JobRunner({ store, deps, settings: settings(overrides), log });
        return runner;
    };

    afterEach(async () => {
        await runner?.stop();
    });

    it("runs a job to COMPLETED with RunPod's status body", async () => {
        makeRunner().start();
        const job = runner.submit({ endpoint: "e", input: { prompt: "hi" } });
        expect(jobStatusBody(job)).toEqual({ id: job.id, status: "IN_QUEUE" });
        const done = await runner.waitForFinal("e", job.id, 5000);
        const body = jobStatusBody(done);
        expect(body.status).toBe("COMPLETED");
        expect(body.output).toEqual([{ choices: [{ tokens: ["t0 t1 t2 t3 "], finish_reason: "length" }], usage: { input: 3, output: 4 } }]);
        expect(typeof body.delayTime).toBe("number");
        expect(body.executionTime).toBeGreaterThanOrEqual(0);
        expect(runner.health("e").jobs).toMatchObject({ completed: 1, inQueue: 0, inProgress: 0 });
        expect(() => runner.get("other", job.id)).toThrow(/not found on endpoint "other"/);
    });

    it("refuses bad input before queueing and unknown endpoints when they are listed", () => {
        makeRunner({ endpoints: ["llm"] }).start();
        expect(() => runner.submit({ endpoint: "llm", input: { prompt: "x", sampling_params: { top_p: 9 } } })).toThrow(/^sampling_params\.top_p:/);
        expect(() => runner.submit({ endpoint: "other", input: { prompt: "x" } })).toThrow('endpoint "other" is not configured (jobs.endpoints: llm)');
        expect(runner.health("llm").jobs.inQueue).toBe(0);
    });

    it("cancels a running job: generation stops in flight", async () => {
        inference.tokens = 10_000;
        makeRunner().start();
        const job = runner.submit({ endpoint: "e", input: { prompt: "x", stream: true } });
        const { chunks } = await runner.takeStream("e", job.id, 5000);
        expect(chunks.length).toBeGreaterThan(0);
        const cancelled = runner.cancel("e", job.id);
        expect(cancelled.status).toBe("CANCELLED");
        await sleep(50);
        const deltasAfter = inference.deltas;
        await sleep(50);
        expect(inference.deltas).toBe(deltasAfter);
        expect(inference.aborts).toBe(1);
        expect(runner.get("e", job.id).status).toBe("CANCELLED");
        expect(runner.health("e").workers.running).toBe(0);
    });

    it("times out, retries under the same id, then completes", async () => {
        inference.tokens = 10_000;
        makeRunner().start();
        const job = runner.submit({ endpoint: "e", input: { prompt: "x" }, executionTimeoutMs: 50 });
        const timedOut = await runner.waitForFinal("e", job.id, 5000);
        expect(jobStatusBody(timedOut)).toMatchObject({ status: "TIMED_OUT", error: "job execution timed out after 50 ms (policy.executionTimeout)" });
        expect(() => runner.retry("e", "nope")).toThrow(/not found/);
        inference.tokens = 2;
        expect(runner.retry("e", job.id).status).toBe("IN_QUEUE");
        const done = await runner.waitForFinal("e", job.id, 5000);
        expect(jobStatusBody(done)).toMatchObject({ status: "COMPLETED", retries: 1 });
        expect(() => runner.retry("e", job.id)).toThrow(`job "${job.id}" is COMPLETED; only FAILED or TIMED_OUT jobs can be retried`);
        expect(runner.health("e").jobs.retried).toBe(1);
    });

    it("runs `concurrency` jobs at a time; purge-queue cancels the waiting ones", async () => {
        inference.tokens = 10_000;
        makeRunner({ concurrency: 1 }).start();
        const first = runner.submit({ endpoint: "e", input: { prompt: "1" } });
        const second = runner.submit({ endpoint: "e", input: { prompt: "2" } });
        const third = runner.submit({ endpoint: "e", input: { prompt: "3" } });
        expect(runner.get("e", first.id).status).toBe("IN_PROGRESS");
        expect(runner.get("e", second.id).status).toBe("IN_QUEUE");
        expect(runner.health("e")).toMatchObject({ jobs: { inProgress: 1, inQueue: 2 }, workers: { running: 1, idle: 0 } });
        expect(runner.purgeQueue("e")).toBe(2);
        expect(runner.get("e", third.id).status).toBe("CANCELLED");
        expect(runner.get("e", first.id).status).toBe("IN_PROGRESS");
        runner.cancel("e", first.id);
    });

    it("fails a job whose run fails, with the reason", async () => {
        makeRunner().start();
        const job = runner.submit({ endpoint: "e", input: { prompt: "x", model: "missing" } });
        expect(jobStatusBody(await runner.waitForFinal("e", job.id, 5000))).toMatchObject({ status: "FAILED", error: 'model "missing" not found' });
    });

    it("puts running jobs back in the queue on shutdown without counting the attempt", async () => {
        inference.tokens = 10_000;
        makeRunner().start();
        const job = runner.submit({ endpoint: "e", input: { prompt: "x" } });
        await sleep(20);
        await runner.stop();
        expect(store.get(job.id)).toMatchObject({ status: "IN_QUEUE", attempts: 0 });
    });

    it("recovers the queue at start and completes what a crash interrupted", async () => {
        const crashed = new JobStore(db);
        crashed.create({ id: "left", endpoint: "e", input: { prompt: "x" }, executionTimeoutMs: 5000, ttlMs: 60_000 });
        crashed.claimNext();
        makeRunner().start();
        const done = await runner.waitForFinal("e", "left", 5000);
        expect(done).toMatchObject({ status: "COMPLETED", attempts: 2 });
    });

    describe("webhooks", () => {
        let server: Server;
        let received: Array<{ body: unknown }>;
        let failuresLeft: number;

        beforeEach(async () => {
            received = [];
            server = createServer((request, response) => {
                let text = "";
                request.on("data", (chunk: Buffer) => (text += chunk.toString()));
                request.on("end", () => {
                    if (failuresLeft-- > 0) {
                        response.writeHead(503).end();
                        return;
                    }
                    received.push({ body: JSON.parse(text) as unknown });
                    response.writeHead(200).end("ok");
                });
            });
            await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        });

        afterEach(async () => {
            await new Promise((resolve) => server.close(resolve));
        });

        const url = (): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

        it("POSTs the final status body, retrying failed deliveries", async () => {
            failuresLeft = 2;
            makeRunner().start();
            const job = runner.submit({ endpoint: "e", input: { prompt: "x" }, webhook: url() });
            await runner.waitForFinal("e", job.id, 5000);
            // The receiver sees the body before the sender has read the answer: wait for the recorded state.
            for (let i = 0; i < 100 && store.get(job.id)!.webhookState !== "delivered"; i++) await sleep(20);
            expect(store.get(job.id)!.webhookState).toBe("delivered");
            expect(received).toHaveLength(1);
            expect(received[0]!.body).toMatchObject({ id: job.id, status: "COMPLETED", output: [{ usage: { output: 4 } }] });
        });

        it("gives up after webhookAttempts and resends pending deliveries at the next start", async () => {
            failuresLeft = 100;
            makeRunner({ webhookAttempts: 2 }).start();
            const job = runner.submit({ endpoint: "e", input: { prompt: "x" }, webhook: url() });
            await runner.waitForFinal("e", job.id, 5000);
            for (let i = 0; i < 100 && store.get(job.id)!.webhookState === "pending"; i++) await sleep(20);
            expect(store.get(job.id)!.webhookState).toBe("failed");
            await runner.stop();
            // A crash between finishing and delivering leaves it pending: the next start sends it.
            store.setWebhookState(job.id, "pending");
            failuresLeft = 0;
            makeRunner().start();
            for (let i = 0; i < 100 && store.get(job.id)!.webhookState !== "delivered"; i++) await sleep(20);
            expect(store.get(job.id)!.webhookState).toBe("delivered");
            expect(received).toHaveLength(1);
        });
    });
});
