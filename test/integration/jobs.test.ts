import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import runpodSdk from "runpod-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyModel } from "../helpers/models.js";
import { runCli, startServer, tempDataDir, type RunningServer } from "../helpers/server.js";

const API_KEY = "jobs-key";
const ENDPOINT = "llm";
const SLOW = { timeout: 180_000 };

type StatusBody = { id: string; status: string; delayTime?: number; executionTime?: number; output?: unknown; error?: string; retries?: number };
type VllmOutput = Array<{ choices: Array<{ tokens: string[]; finish_reason: string }>; usage: { input: number; output: number } }>;

/** A job that keeps the runner busy until cancelled (thousands of tokens, end-of-sequence ignored). */
const LONG_INPUT = { prompt: "hi", stream: true, sampling_params: { max_tokens: 3500, ignore_eos: true } };

async function makeDataDir(config: Record<string, unknown>): Promise<string> {
    const dataDir = tempDataDir("mentator-jobs-");
    mkdirSync(join(dataDir, "models"), { recursive: true });
    await makeTinyModel(join(dataDir, "models"), "tiny");
    writeFileSync(join(dataDir, "mentator-llm-service.conf.jsonc"), JSON.stringify(config));
    return dataDir;
}

/** A local HTTP server: records webhook POSTs, serves batch files, fails as told. */
class FakeRemote {
    public readonly hooks: Array<{ path: string; body: StatusBody }> = [];
    public readonly files = new Map<string, string>();
    public failHooks = 0;
    /** GET requests for this path are held (never answered) while it is set. */
    public holdPath: string | undefined;
    /** GET requests held so far. */
    public held = 0;
    private readonly server: Server;

    public constructor() {
        this.server = createServer((request, response) => {
            let text = "";
            request.on("data", (chunk: Buffer) => (text += chunk.toString()));
            request.on("end", () => {
                const path = request.url ?? "/";
                if (request.method === "POST") {
                    if (this.failHooks > 0) {
                        this.failHooks--;
                        response.writeHead(500).end("try again");
                        return;
                    }
                    this.hooks.push({ path, body: JSON.parse(text) as StatusBody });
                    response.writeHead(200).end("ok");
                    return;
                }
                if (path === this.holdPath) {
                    this.held++;
                    return;
                }
                const file = this.files.get(path);
                if (file === undefined) response.writeHead(404).end("no such file");
                else response.writeHead(200, { "content-type": "application/x-ndjson" }).end(file);
            });
        });
    }

    public async listen(): Promise<void> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    }

    public url(path: string): string {
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
    }

    public async close(): Promise<void> {
        this.server.closeAllConnections();
        await new Promise((resolve) => this.server.close(resolve));
    }
}

let server: RunningServer;
let remote: FakeRemote;
let endpoint: NonNullable<ReturnType<ReturnType<typeof runpodSdk>["endpoint"]>>;

async function api(method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await fetch(`${server.url}/v2/${ENDPOINT}${path}`, {
        method,
        headers: { authorization: `Bearer ${API_KEY}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function waitFinal(id: string, timeoutMs = 150_000): Promise<StatusBody> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const { json } = await api("GET", `/status-sync/${id}?wait=5000`);
        const status = json as unknown as StatusBody;
        if (["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"].includes(status.status)) return status;
        if (Date.now() > deadline) throw new Error(`job ${id} not finished: ${JSON.stringify(status)}`);
    }
}

/** Waits until the job has streamed something (so it is generating), returning what it streamed. */
async function waitStreaming(id: string): Promise<unknown[]> {
    const deadline = Date.now() + 120_000;
    for (;;) {
        const { json } = await api("GET", `/stream/${id}?wait=5000`);
        const stream = json.stream as unknown[];
        if (stream.length > 0) return stream;
        if (json.status !== "IN_QUEUE" && json.status !== "IN_PROGRESS") throw new Error(`job ${id} ended before streaming: ${JSON.stringify(json)}`);
        if (Date.now() > deadline) throw new Error(`job ${id} did not stream in time`);
    }
}

beforeAll(async () => {
    remote = new FakeRemote();
    await remote.listen();
    const dataDir = await makeDataDir({
        apiKeys: [API_KEY],
        parallel: 2,
        contextSize: 4096,
        limits: { maxLoadedModels: 2 },
        jobs: { concurrency: 1, webhookRetryBaseMs: 100, maxAttempts: 3 }
    });
    server = await startServer({ dataDir });
    await server.waitReady(120_000);
    endpoint = runpodSdk(API_KEY, { baseUrl: `${server.url}/v2` }).endpoint(ENDPOINT)!;
});

afterAll(async () => {
    await server?.stop("SIGTERM");
    await remote?.close();
});

describe("RunPod job API through the runpod-sdk client", () => {
    it("run -> status -> output", SLOW, async () => {
        const started = await endpoint.run({ input: { prompt: "hi", sampling_params: { max_tokens: 6, temperature: 0, seed: 1 } } });
        expect(started.status).toBe("IN_QUEUE");
        expect(started.id).toMatch(/^[0-9a-f-]{36}$/);
        let status = (await endpoint.status(started.id)) as StatusBody & { completed?: boolean };
        const deadline = Date.now() + 150_000;
        while (status.completed !== true && Date.now() < deadline) {
            await sleep(200);
            status = (await endpoint.status(started.id)) as StatusBody & { completed?: boolean };
        }
        expect(status).toMatchObject({ id: started.id, status: "COMPLETED", succeeded: true });
        expect(status.delayTime).toBeGreaterThanOrEqual(0);
        expect(status.executionTime).toBeGreaterThan(0);
        const output = status.output as VllmOutput;
        expect(output[0]!.usage).toEqual({ input: expect.any(Number) as number, output: 6 });
        expect(output[0]!.choices[0]!.tokens[0]!.length).toBeGreaterThan(0);
    });

    it("runsync answers with the OpenAI body for openai_route", SLOW, async () => {
        const result = (await endpoint.runSync(
            { input: { openai_route: "/v1/chat/completions", openai_input: { messages: [{ role: "user", content: "Say hi" }], max_tokens: 5 } } },
            150_000
        )) as unknown as StatusBody;
        expect(result.status).toBe("COMPLETED");
        expect(result.id).toMatch(/^sync-/);
        expect(result.output).toMatchObject({ id: `chatcmpl-${result.id}`, object: "chat.completion", model: "tiny", choices: [{ message: { role: "assistant" } }] });
    });

    it("runsync returns the unfinished status when ?wait= runs out", SLOW, async () => {
        const { status, json } = await api("POST", "/runsync?wait=200", { input: LONG_INPUT });
        expect(status).toBe(200);
        expect(["IN_QUEUE", "IN_PROGRESS"]).toContain(json.status);
        expect((await api("POST", `/cancel/${String(json.id)}`)).json.status).toBe("CANCELLED");
    });

    it("streams partial outputs that add up to the final output", SLOW, async () => {
        const { id } = await endpoint.run({ input: { prompt: "hi", stream: true, sampling_params: { max_tokens: 8, ignore_eos: true } } });
        const pieces: string[] = [];
        // The SDK yields RunPod's stream items: {output: <partial output>}.
        for await (const item of endpoint.stream(id)) {
            const batch = (item as { output: { choices: Array<{ tokens: string[] }> } }).output;
            pieces.push(...batch.choices[0]!.tokens);
        }
        const final = (await endpoint.status(id)) as StatusBody;
        expect(final.status).toBe("COMPLETED");
        expect(pieces.join("")).toBe((final.output as VllmOutput)[0]!.choices[0]!.tokens[0]);
        expect(pieces.length).toBeGreaterThan(1);
    });

    it("cancel stops a job in flight", SLOW, async () => {
        const { id } = await endpoint.run({ input: LONG_INPUT });
        await waitStreaming(id);
        const cancelled = await endpoint.cancel(id);
        expect(cancelled).toMatchObject({ id, status: "CANCELLED" });
        // The runner frees its worker once generation has stopped.
        const deadline = Date.now() + 60_000;
        let health = await endpoint.health();
        while (health.workers.running > 0 && Date.now() < deadline) {
            await sleep(100);
            health = await endpoint.health();
        }
        expect(health.workers.running).toBe(0);
        expect(((await endpoint.status(id)) as StatusBody).status).toBe("CANCELLED");
    });

    it("purge-queue removes the waiting jobs and leaves the running one", SLOW, async () => {
        const running = await endpoint.run({ input: LONG_INPUT });
        await waitStreaming(running.id);
        const queued = [await endpoint.run({ input: { prompt: "a" } }), await endpoint.run({ input: { prompt: "b" } })];
        const health = await endpoint.health();
        expect(health.jobs.inQueue).toBe(2);
        expect(health.workers).toMatchObject({ running: 1, idle: 0 });
        expect(await endpoint.purgeQueue()).toEqual({ removed: 2, status: "completed" });
        for (const job of queued) expect(((await endpoint.status(job.id)) as StatusBody).status).toBe("CANCELLED");
        expect(((await endpoint.status(running.id)) as StatusBody).status).toBe("IN_PROGRESS");
        await endpoint.cancel(running.id);
    });
});

describe("job API details", () => {
    it("requires the API key", async () => {
        const response = await fetch(`${server.url}/v2/${ENDPOINT}/health`);
        expect(response.status).toBe(401);
    });

    it("refuses bad input with 400 and a message naming the field", async () => {
        const bad = await api("POST", "/run", { input: { prompt: "x", sampling_params: { temperature: 7 } } });
        expect(bad.status).toBe(400);
        expect(bad.json.error).toMatchObject({ code: "invalid_job_input", param: "sampling_params.temperature" });
        const noInput = await api("POST", "/run", { prompt: "x" });
        expect(noInput.status).toBe(400);
        expect((noInput.json.error as { message: string }).message).toMatch(/^input: expected an object/);
        const unknown = await api("GET", "/status/does-not-exist");
        expect(unknown.status).toBe(404);
        expect((unknown.json.error as { code: string }).code).toBe("job_not_found");
    });

    it("POSTs the final status to the webhook, retrying a failed delivery", SLOW, async () => {
        remote.failHooks = 1;
        const { json } = await api("POST", "/run", { input: { prompt: "hook", sampling_params: { max_tokens: 3 } }, webhook: remote.url("/hook/1") });
        const id = String(json.id);
        const final = await waitFinal(id);
        expect(final.status).toBe("COMPLETED");
        const deadline = Date.now() + 30_000;
        while (!remote.hooks.some((hook) => hook.body.id === id) && Date.now() < deadline) await sleep(100);
        const hook = remote.hooks.find((entry) => entry.body.id === id);
        expect(hook?.path).toBe("/hook/1");
        expect(hook?.body).toEqual(final);
        expect(remote.failHooks).toBe(0);
    });

    it("fails a job whose batch_url cannot be read, and runs one that can", SLOW, async () => {
        const missing = await api("POST", "/run", { input: { batch_url: remote.url("/missing.jsonl") } });
        const failed = await waitFinal(String(missing.json.id));
        expect(failed.status).toBe("FAILED");
        expect(failed.error).toMatch(/cannot read batch_url http:\/\/127\.0\.0\.1:\d+\/missing\.jsonl: .*404/);

        remote.files.set("/batch.jsonl", '{"prompt":"one","sampling_params":{"max_tokens":2}}\n{"openai_route":"/v1/embeddings","openai_input":{"input":"two"}}\n');
        const ok = await api("POST", "/run", { input: { batch_url: remote.url("/batch.jsonl") } });
        const done = await waitFinal(String(ok.json.id));
        expect(done.status).toBe("COMPLETED");
        const lines = done.output as unknown[];
        expect(lines).toHaveLength(2);
        expect(lines[1]).toMatchObject({ object: "list", data: [{ object: "embedding" }] });
    });

    it("retries a FAILED job under the same id", SLOW, async () => {
        const { json } = await api("POST", "/run", { input: { prompt: "x", model: "later", sampling_params: { max_tokens: 2 } } });
        const id = String(json.id);
        const failed = await waitFinal(id);
        expect(failed).toMatchObject({ status: "FAILED", error: expect.stringMatching(/model "later" not found/) as string });
        const notYet = await api("POST", `/retry/${id}`);
        expect(notYet.json).toEqual({ id, status: "IN_QUEUE" });
        const failedAgain = await waitFinal(id);
        expect(failedAgain).toMatchObject({ status: "FAILED", retries: 1 });
        // Fix the cause, retry again: it completes.
        copyFileSync(join(server.dataDir, "models", "tiny.gguf"), join(server.dataDir, "models", "later.gguf"));
        expect((await api("POST", `/retry/${id}`)).json.status).toBe("IN_QUEUE");
        const done = await waitFinal(id);
        expect(done).toMatchObject({ status: "COMPLETED", retries: 2 });
        const again = await api("POST", `/retry/${id}`);
        expect(again.status).toBe(409);
        expect((again.json.error as { message: string }).message).toBe(`job "${id}" is COMPLETED; only FAILED or TIMED_OUT jobs can be retried`);
    });

    it("ends a job past its executionTimeout as TIMED_OUT", SLOW, async () => {
        const { json } = await api("POST", "/run", { input: LONG_INPUT, policy: { executionTimeout: 1500 } });
        const final = await waitFinal(String(json.id));
        expect(final).toMatchObject({ status: "TIMED_OUT", error: "job execution timed out after 1500 ms (policy.executionTimeout)" });
    });
});

describe("durability", () => {
    it("never leaves a job stuck or lost when the server is SIGKILLed mid-job", { timeout: 300_000 }, async () => {
        const dataDir = await makeDataDir({ contextSize: 4096, jobs: { concurrency: 2, maxAttempts: 2 } });
        remote.holdPath = "/slow.jsonl";
        remote.files.set("/slow.jsonl", '{"prompt":"slow","sampling_params":{"max_tokens":2}}\n');
        const servers: RunningServer[] = [];
        const start = async (): Promise<RunningServer> => {
            const started = await startServer({ dataDir });
            servers.push(started);
            return started;
        };
        const call = async (target: RunningServer, method: string, path: string, body?: unknown) =>
            (await (
                await fetch(`${target.url}/v2/e${path}`, { method, headers: body !== undefined ? { "content-type": "application/json" } : {}, body: body !== undefined ? JSON.stringify(body) : undefined })
            ).json()) as StatusBody & { stream?: unknown[] };
        const waitStreamingOn = async (target: RunningServer, id: string): Promise<void> => {
            for (const end = Date.now() + 120_000; ; ) {
                if (((await call(target, "GET", `/stream/${id}?wait=5000`)).stream ?? []).length > 0) return;
                if (Date.now() > end) throw new Error(`job ${id} did not start generating`);
            }
        };
        const waitDone = async (target: RunningServer, id: string): Promise<StatusBody> => {
            for (const end = Date.now() + 120_000; ; ) {
                const status = await call(target, "GET", `/status-sync/${id}?wait=5000`);
                if (status.status !== "IN_QUEUE" && status.status !== "IN_PROGRESS") return status;
                if (Date.now() > end) throw new Error(`job ${id} stuck: ${JSON.stringify(status)}`);
            }
        };
        try {
            // 1st run: a generation and a batch download in flight, one job queued behind them.
            const first = await start();
            const generating = await call(first, "POST", "/run", { input: LONG_INPUT });
            const downloading = await call(first, "POST", "/run", { input: { batch_url: remote.url("/slow.jsonl") } });
            const queued = await call(first, "POST", "/run", { input: { prompt: "next", sampling_params: { max_tokens: 2 } } });
            await waitStreamingOn(first, generating.id);
            for (const end = Date.now() + 60_000; remote.held === 0; ) {
                if (Date.now() > end) throw new Error("the batch download did not start");
                await sleep(50);
            }
            expect((await call(first, "GET", `/status/${downloading.id}`)).status).toBe("IN_PROGRESS");
            await first.stop("SIGKILL");

            // 2nd run: both interrupted jobs are queued again and run; the download now succeeds.
            remote.holdPath = undefined;
            const second = await start();
            expect(await waitDone(second, downloading.id)).toMatchObject({ status: "COMPLETED", output: [[{ choices: [{ finish_reason: "length" }], usage: { output: 2 } }]] });
            expect((await waitDone(second, queued.id)).status).toBe("COMPLETED");
            expect(second.logs()).toContain("jobs interrupted by a previous stop recovered");
            // The long generation runs again (2nd attempt); kill it once more.
            await waitStreamingOn(second, generating.id);
            await second.stop("SIGKILL");

            // 3rd run: the generation used its 2 attempts (jobs.maxAttempts) and ends FAILED with the reason.
            const third = await start();
            const failed = await waitDone(third, generating.id);
            expect(failed).toMatchObject({ status: "FAILED" });
            expect(failed.error).toMatch(/the service stopped while this job was running, 2 times \(jobs\.maxAttempts = 2\)/);
            for (const job of [downloading, queued]) expect((await call(third, "GET", `/status/${job.id}`)).status).toBe("COMPLETED");
        } finally {
            for (const started of servers) await started.stop("SIGKILL");
        }
    });
});

describe("mentator run", () => {
    it("prints base64 that decodes to the result JSON", SLOW, async () => {
        const dataDir = await makeDataDir({});
        const result = await runCli(["run", "--job", "-", "--output", "base64", "--data-dir", dataDir], {
            input: '{"input":{"prompt":"hi","sampling_params":{"max_tokens":8}}}'
        });
        expect(result.stderr).toBe("");
        expect(result.code).toBe(0);
        const lines = result.stdout.trim().split("\n");
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(/^[A-Za-z0-9+/]+=*$/);
        const decoded = JSON.parse(Buffer.from(lines[0]!, "base64").toString("utf8")) as VllmOutput;
        expect(decoded[0]!.usage.output).toBe(8);
        expect(decoded[0]!.choices[0]!.tokens[0]!.length).toBeGreaterThan(0);
    });

    it("prints inline JSON from a job file, and fails clearly on bad jobs", SLOW, async () => {
        const dataDir = await makeDataDir({});
        const jobFile = join(dataDir, "job.json");
        writeFileSync(jobFile, JSON.stringify({ input: { openai_route: "/v1/completions", openai_input: { prompt: "hi", max_tokens: 3 } } }));
        const ok = await runCli(["run", "--job", jobFile, "--data-dir", dataDir]);
        expect(ok.code).toBe(0);
        expect(JSON.parse(ok.stdout)).toMatchObject({ object: "text_completion", usage: { completion_tokens: 3 } });

        const fromInput = await runCli(["run", "--job", "-", "--data-dir", dataDir], { input: '{"input":{"prompt":"x","output":"base64","sampling_params":{"max_tokens":2}}}' });
        expect(fromInput.code).toBe(0);
        expect(JSON.parse(Buffer.from(fromInput.stdout.trim(), "base64").toString("utf8"))).toMatchObject([{ usage: { output: 2 } }]);

        const bad = await runCli(["run", "--job", "-", "--data-dir", dataDir], { input: '{"input":{"prompt":"x","sampling_params":{"top_k":"all"}}}' });
        expect(bad.code).toBe(2);
        expect(bad.stdout).toBe("");
        expect(bad.stderr).toMatch(/^mentator: job file stdin: sampling_params\.top_k: /);

        const noModel = await runCli(["run", "--job", "-", "--data-dir", tempDataDir()], { input: '{"input":{"prompt":"x"}}' });
        expect(noModel.code).not.toBe(0);
        expect(noModel.stderr).toMatch(/no default model.*no models in/);

        const locked = await runCli(["run", "--job", "-", "--data-dir", dataDir, "--lock", join(dataDir, "missing.lock.json")], { input: '{"input":{"prompt":"x"}}' });
        expect(locked.code).not.toBe(0);
        expect(locked.stderr).toMatch(/missing\.lock\.json/);
    });
});
