import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { JobHandler } from "../../src/jobs/worker/JobHandler.js";
import { RunPodHttpQueue } from "../../src/jobs/worker/RunPodHttpQueue.js";
import { RunPodWorker } from "../../src/jobs/worker/RunPodWorker.js";
import { readRunPodWorkerSettings } from "../../src/jobs/worker/RunPodWorkerSettings.js";
import { startFakeRunPodQueue, type FakeRunPodQueue } from "../helpers/fakeRunPodQueue.js";
import { makeTinyModel } from "../helpers/models.js";
import { cleanEnv, tempDataDir } from "../helpers/server.js";

const ENTRY = new URL("../../distjs/index.js", import.meta.url).pathname;
const silent = pino({ level: "silent" });

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

describe("RUNPOD_* settings", () => {
    it("replaces $ID and $RUNPOD_POD_ID by the worker id in job-take, and only the pod id in job-done", () => {
        const settings = readRunPodWorkerSettings({
            RUNPOD_WEBHOOK_GET_JOB: "https://api.example/v2/ep/job-take/$ID?gpu=x",
            RUNPOD_WEBHOOK_POST_OUTPUT: "https://api.example/v2/ep/job-done/$RUNPOD_POD_ID/$ID?gpu=x",
            RUNPOD_POD_ID: "pod-7",
            RUNPOD_PING_INTERVAL: "2500"
        });
        expect(settings.jobTakeUrl).toBe("https://api.example/v2/ep/job-take/pod-7?gpu=x");
        expect(settings.jobDoneUrl).toBe("https://api.example/v2/ep/job-done/pod-7/$ID?gpu=x");
        expect(settings.pingIntervalMs).toBe(2500);
        expect(settings.pingUrl).toBeUndefined();
        expect(settings.jobStreamUrl).toBeUndefined();
        expect(readRunPodWorkerSettings({ RUNPOD_WEBHOOK_GET_JOB: "http://q/$RUNPOD_POD_ID", RUNPOD_WEBHOOK_POST_OUTPUT: "http://q/done" }).workerId).toMatch(/^[0-9a-f-]{36}$/);
    });

    it("names the variable that is missing or malformed", () => {
        expect(() => readRunPodWorkerSettings({ RUNPOD_WEBHOOK_GET_JOB: "http://q/take" })).toThrow(/RUNPOD_WEBHOOK_POST_OUTPUT is not set/);
        expect(() => readRunPodWorkerSettings({ RUNPOD_WEBHOOK_GET_JOB: "not a url", RUNPOD_WEBHOOK_POST_OUTPUT: "http://q/done" })).toThrow(/RUNPOD_WEBHOOK_GET_JOB is not a URL/);
        expect(() => readRunPodWorkerSettings({ RUNPOD_WEBHOOK_GET_JOB: "http://q/take", RUNPOD_WEBHOOK_POST_OUTPUT: "http://q/done", RUNPOD_PING_INTERVAL: "soon" })).toThrow(
            /RUNPOD_PING_INTERVAL must be a whole number/
        );
    });
});

describe("worker protocol (in process, fake handler, fake queue)", () => {
    let queue: FakeRunPodQueue;
    let worker: RunPodWorker | undefined;
    let running: Promise<void> | undefined;

    beforeAll(async () => {
        queue = await startFakeRunPodQueue({ holdMs: 100 });
    });

    afterEach(async () => {
        worker?.stop();
        await running;
        worker = undefined;
        running = undefined;
        queue.takes.length = 0;
        queue.results.length = 0;
        queue.streams.length = 0;
        queue.pings.length = 0;
        queue.slowStream(0);
    });

    afterAll(async () => {
        await queue?.close();
    });

    function startWorker(handler: JobHandler, options: { concurrency?: number; throttleDelayMs?: number; shutdownGraceMs?: number; pingIntervalMs?: number } = {}): RunPodWorker {
        const settings = readRunPodWorkerSettings(queue.env({ RUNPOD_PING_INTERVAL: String(options.pingIntervalMs ?? 100) }));
        worker = new RunPodWorker({
            queue: new RunPodHttpQueue(settings, { postRetryBaseMs: 50 }),
            handler,
            log: silent,
            concurrency: options.concurrency,
            pingIntervalMs: options.pingIntervalMs ?? 100,
            idleDelayMs: 10,
            throttleDelayMs: options.throttleDelayMs,
            shutdownGraceMs: options.shutdownGraceMs
        });
        running = worker.run();
        return worker;
    }

    it("takes a job, runs it and posts {output} to job-done with the worker id, the job id, isStream=false and the API key", async () => {
        const seen: unknown[] = [];
        startWorker(async (job) => {
            seen.push(job);
            return { echoed: job.input };
        });
        queue.enqueue({ id: "job-1", input: { prompt: "hi" } });
        const result = await queue.waitFor(() => queue.results.find((call) => call.jobId === "job-1"), 10_000, "job-1 result");
        expect(seen).toEqual([{ id: "job-1", input: { prompt: "hi" } }]);
        expect(result).toMatchObject({ workerId: "worker-abc", isStream: "false", body: { output: { echoed: { prompt: "hi" } } }, authorization: "test-runpod-key", requestId: "job-1" });
        const take = queue.takes[0]!;
        expect(take.workerId).toBe("worker-abc");
        expect(take.jobInProgress).toBe("0");
        expect(take.query.get("gpu")).toBe("NVIDIA H100"); // the template's own query survives
        expect(take.authorization).toBe("test-runpod-key");
    });

    it("posts {error} when the handler fails", async () => {
        startWorker(async () => {
            throw new Error("prompt: expected a string");
        });
        queue.enqueue({ id: "bad-1", input: { prompt: 5 } });
        const result = await queue.waitFor(() => queue.results.find((call) => call.jobId === "bad-1"), 10_000);
        expect(result.body).toEqual({ error: "prompt: expected a string" });
    });

    it("streams partial outputs in order to job-stream, then posts job-done with isStream=true", async () => {
        queue.slowStream(30);
        startWorker(async (_job, options) => {
            for (let index = 0; index < 5; index++) options.onPartial?.({ delta: `t${index}` });
            return { text: "t0t1t2t3t4" };
        });
        queue.enqueue({ id: "stream-1", input: { prompt: "hi", stream: true } });
        const result = await queue.waitFor(() => queue.results.find((call) => call.jobId === "stream-1"), 10_000);
        expect(queue.streams.map((call) => call.body)).toEqual([0, 1, 2, 3, 4].map((index) => ({ output: { delta: `t${index}` } })));
        // job-done comes after the last partial was accepted.
        expect(result.at).toBeGreaterThanOrEqual(queue.streams.at(-1)!.at);
        expect(result.isStream).toBe("true");
        expect(result.body).toEqual({ output: { text: "t0t1t2t3t4" } });
    });

    it("keeps polling after 204, 400, an empty body and a non-job body, then takes the next job", async () => {
        queue.script({ status: 204 }, { status: 400 }, { status: 200, body: "" }, { status: 200, body: "not json" });
        startWorker(async () => "ok");
        await queue.waitFor(() => queue.takes.length >= 5, 10_000, "five takes");
        queue.enqueue({ id: "after-idle", input: {} });
        const result = await queue.waitFor(() => queue.results.find((call) => call.jobId === "after-idle"), 10_000);
        expect(result.body).toEqual({ output: "ok" });
        expect(queue.takes.slice(0, 4).map((take) => take.answer)).toEqual(["204", "400", "200", "200"]);
    });

    it("backs off after 429: Retry-After when given, else the default pause", async () => {
        queue.script({ status: 429, retryAfter: "2" }, { status: 429 });
        startWorker(async () => "ok", { throttleDelayMs: 600 });
        await queue.waitFor(() => queue.takes.length >= 3, 10_000, "three takes");
        const [first, second, third] = queue.takes;
        expect(second!.at - first!.at).toBeGreaterThanOrEqual(1950);
        expect(third!.at - second!.at).toBeGreaterThanOrEqual(580);
        expect(third!.at - second!.at).toBeLessThan(1900);
    });

    it("runs up to `concurrency` jobs at once, flags job_in_progress=1 while busy, and pings the ids in progress", async () => {
        let active = 0;
        let peak = 0;
        const release: Array<() => void> = [];
        startWorker(
            async (job) => {
                active++;
                peak = Math.max(peak, active);
                await new Promise<void>((resolve) => release.push(resolve));
                active--;
                return job.id;
            },
            { concurrency: 2 }
        );
        queue.enqueue({ id: "c-1", input: {} }, { id: "c-2", input: {} }, { id: "c-3", input: {} });
        await queue.waitFor(() => release.length === 2 || undefined, 10_000, "two jobs running");
        const ping = await queue.waitFor(() => queue.pings.find((call) => call.jobIds.length === 2), 10_000, "ping with two ids");
        expect(ping.jobIds.sort()).toEqual(["c-1", "c-2"]);
        expect(ping.authorization).toBe("test-runpod-key");
        await sleep(300);
        expect(peak).toBe(2); // c-3 waits for a free slot
        expect(queue.takes.some((take) => take.jobInProgress === "1")).toBe(true);
        for (const wake of release.splice(0)) wake();
        await queue.waitFor(() => release.length === 1 || undefined, 10_000, "third job running");
        release[0]!();
        await queue.waitFor(() => queue.results.length === 3 || undefined, 10_000, "three results");
        expect(queue.results.map((call) => call.body.output).sort()).toEqual(["c-1", "c-2", "c-3"]);
        expect(peak).toBe(2);
        const idlePing = await queue.waitFor(() => queue.pings.filter((call) => call.at > queue.results.at(-1)!.at).find((call) => call.jobIds.length === 0), 5000, "idle ping");
        expect(idlePing.jobIds).toEqual([]);
    });

    it("on stop, finishes a job that ends within the grace period and takes no more", async () => {
        startWorker(
            async () => {
                await sleep(400);
                return "finished";
            },
            { shutdownGraceMs: 5000 }
        );
        queue.enqueue({ id: "graceful", input: {} });
        await queue.waitFor(() => queue.takes.find((take) => take.answer === "job graceful"), 10_000);
        worker!.stop();
        const takesAtStop = queue.takes.length;
        await running;
        expect(queue.results.find((call) => call.jobId === "graceful")?.body).toEqual({ output: "finished" });
        expect(queue.takes.length).toBe(takesAtStop);
        expect(worker!.stats()).toEqual({ completed: 1, failed: 0, handedBack: 0 });
    });

    it("on stop, lets the job-take in flight answer and runs the job it brings instead of dropping it", async () => {
        const slowQueue = await startFakeRunPodQueue({ holdMs: 3000 });
        try {
            const settings = readRunPodWorkerSettings(slowQueue.env());
            const local = new RunPodWorker({ queue: new RunPodHttpQueue(settings), handler: async (job) => `ran ${job.id}`, log: silent, pingIntervalMs: 0, shutdownGraceMs: 5000 });
            const done = local.run();
            await slowQueue.waitFor(() => slowQueue.takes.length > 0 || undefined, 10_000, "a take in flight");
            local.stop();
            slowQueue.enqueue({ id: "late", input: {} });
            await done;
            expect(slowQueue.takes.map((take) => take.answer)).toEqual(["job late"]);
            expect(slowQueue.results.map((call) => call.body)).toEqual([{ output: "ran late" }]);
        } finally {
            await slowQueue.close();
        }
    });

    it("on stop, hands back a job that outlasts the grace period: it is aborted, no result is posted, the last ping drops it", async () => {
        let abortReason: unknown;
        startWorker(
            (_job, options) =>
                new Promise((_resolve, reject) => {
                    options.signal.addEventListener("abort", () => {
                        abortReason = options.signal.reason;
                        reject(options.signal.reason as Error);
                    });
                }),
            { shutdownGraceMs: 300 }
        );
        queue.enqueue({ id: "long", input: {} });
        await queue.waitFor(() => queue.pings.find((call) => call.jobIds.includes("long")), 10_000, "ping with the long job");
        worker!.stop();
        await running;
        expect((abortReason as Error).name).toBe("WorkerStoppedError");
        expect(queue.results.find((call) => call.jobId === "long")).toBeUndefined();
        expect(queue.pings.at(-1)!.jobIds).toEqual([]);
        expect(worker!.stats().handedBack).toBe(1);
    });
});

interface WorkerProcess {
    child: ChildProcess;
    output(): string;
    exited: Promise<number | null>;
}

function spawnWorker(args: string[], env: Record<string, string>, cwd?: string): WorkerProcess {
    const child = spawn(process.execPath, [ENTRY, "worker", ...args], { env: cleanEnv({ MENTATOR_LOG_LEVEL: "info", ...env }), cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    return { child, output: () => output, exited };
}

async function runWorkerOnce(args: string[], env: Record<string, string>, cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [ENTRY, "worker", ...args], { env: cleanEnv({ MENTATOR_LOG_LEVEL: "warn", ...env }), cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", (exitCode) => resolve(exitCode)));
    return { code, stdout, stderr };
}

describe("mentator worker (spawned, tiny model, fake RunPod queue)", () => {
    let queue: FakeRunPodQueue;
    let dataDir: string;
    let worker: WorkerProcess | undefined;

    beforeAll(async () => {
        queue = await startFakeRunPodQueue({ holdMs: 300 });
        dataDir = tempDataDir("mentator-worker-");
        await makeTinyModel(join(dataDir, "models"));
    });

    afterAll(async () => {
        if (worker !== undefined && worker.child.exitCode === null) {
            worker.child.kill("SIGKILL");
            await worker.exited;
        }
        await queue?.close();
    });

    it("takes → done, streams partial outputs, pings the job in progress, idles on 204 and backs off on 429", async () => {
        worker = spawnWorker(["--data-dir", dataDir], queue.env({ RUNPOD_PING_INTERVAL: "200", MENTATOR_JOBS_CONCURRENCY: "1" }));
        await queue.waitFor(() => queue.takes.length > 0 || undefined, 120_000, `first job-take\n${worker.output()}`);
        // The model is loaded before the first take.
        expect(worker.output()).toMatch(/default model loaded/);
        await queue.waitFor(() => queue.takes.filter((take) => take.answer === "204").length >= 2 || undefined, 30_000, "idle 204 takes");
        expect(queue.takes.every((take) => take.workerId === "worker-abc" && take.authorization === "test-runpod-key")).toBe(true);
        expect(queue.takes[0]!.jobInProgress).toBe("0");

        queue.enqueue({ id: "job-short", input: { prompt: "hi", sampling_params: { max_tokens: 8 } } });
        const done = await queue.waitFor(() => queue.results.find((call) => call.jobId === "job-short"), 60_000, `job-short result\n${worker.output()}`);
        expect(done.isStream).toBe("false");
        expect(done.authorization).toBe("test-runpod-key");
        const output = done.body.output as Array<{ choices: Array<{ tokens: string[] }>; usage: { input: number; output: number } }>;
        expect(output[0]!.usage.output).toBe(8);
        expect(output[0]!.choices[0]!.tokens.join("").length).toBeGreaterThan(0);

        // A streaming job: partials go to job-stream while it runs (held a moment each, so pings see it in progress).
        queue.slowStream(150);
        queue.enqueue({
            id: "job-stream",
            input: { openai_route: "/v1/chat/completions", openai_input: { messages: [{ role: "user", content: "hi" }], max_tokens: 12, stream: true, ignore_eos: true } }
        });
        const streamed = await queue.waitFor(() => queue.results.find((call) => call.jobId === "job-stream"), 90_000, `job-stream result\n${worker.output()}`);
        queue.slowStream(0);
        const partials = queue.streams.filter((call) => call.jobId === "job-stream");
        expect(partials.length).toBeGreaterThanOrEqual(3);
        expect(streamed.isStream).toBe("true");
        expect(JSON.stringify(partials.map((call) => call.body.output))).toMatch(/chat\.completion\.chunk/);
        expect(streamed.body.output).toMatchObject({ id: "chatcmpl-job-stream", object: "chat.completion", choices: [{ finish_reason: "length" }] });
        const busyPings = queue.pings.filter((call) => call.jobIds.includes("job-stream"));
        expect(busyPings.length).toBeGreaterThanOrEqual(1);
        expect(busyPings[0]!.authorization).toBe("test-runpod-key");
        expect(queue.takes.some((take) => take.jobInProgress === "1")).toBe(false); // concurrency 1: no take while busy

        // A bad input fails that job only.
        queue.enqueue({ id: "job-bad", input: { prompt: 42 } });
        const failed = await queue.waitFor(() => queue.results.find((call) => call.jobId === "job-bad"), 30_000);
        expect(failed.body.error).toMatch(/prompt/);

        // 429 without Retry-After: RunPod's 5 s back-off before the next take.
        queue.script({ status: 429 });
        const throttledAt = await queue.waitFor(() => queue.takes.find((take) => take.answer === "429")?.at, 30_000, "a 429 take");
        const next = await queue.waitFor(() => queue.takes.find((take) => take.at > throttledAt), 30_000, "take after 429");
        expect(next.at - throttledAt).toBeGreaterThanOrEqual(4800);
    }, 300_000);

    it("on SIGTERM finishes the job in flight, posts it, and exits 0", async () => {
        expect(worker).toBeDefined();
        queue.slowStream(400);
        queue.enqueue({ id: "job-term", input: { prompt: "hi", stream: true, sampling_params: { max_tokens: 6, ignore_eos: true } } });
        await queue.waitFor(() => queue.takes.find((take) => take.answer === "job job-term"), 60_000, "job-term taken");
        const killedAt = Date.now();
        worker!.child.kill("SIGTERM");
        const code = await worker!.exited;
        queue.slowStream(0);
        expect(code, worker!.output()).toBe(0);
        expect(queue.takes.filter((take) => take.at >= killedAt)).toEqual([]);
        const done = queue.results.find((call) => call.jobId === "job-term");
        expect(done?.body.output, worker!.output()).toBeDefined();
        expect(worker!.output()).toMatch(/worker stopped/);
    }, 120_000);

    it("local test mode: --test-input or ./test_input.json runs one job and prints it (exit 0); a failing job exits 1", async () => {
        const job = { input: { prompt: "hi", sampling_params: { max_tokens: 4 } } };
        const flag = await runWorkerOnce(["--data-dir", dataDir, "--test-input", JSON.stringify(job)], {});
        expect(flag.code, flag.stderr).toBe(0);
        const printed = JSON.parse(flag.stdout) as { id: string; status: string; output: Array<{ usage: { output: number } }> };
        expect(printed).toMatchObject({ id: "local_test", status: "COMPLETED" });
        expect(printed.output[0]!.usage.output).toBe(4);

        const cwd = tempDataDir("mentator-worker-cwd-");
        writeFileSync(join(cwd, "test_input.json"), JSON.stringify({ id: "from-file", input: { prompt: "hey", sampling_params: { max_tokens: 3 }, output: "base64" } }));
        const file = await runWorkerOnce(["--data-dir", dataDir], {}, cwd);
        expect(file.code, file.stderr).toBe(0);
        const fromFile = JSON.parse(file.stdout) as { id: string; output: string };
        expect(fromFile.id).toBe("from-file");
        expect(JSON.parse(Buffer.from(fromFile.output, "base64").toString("utf8"))).toMatchObject([{ usage: { output: 3 } }]);

        const failing = await runWorkerOnce(["--data-dir", dataDir, "--test-input", JSON.stringify({ input: { prompt: "hi", sampling_params: { max_tokens: -1 } } })], {});
        expect(failing.code).toBe(1);
        expect(failing.stderr).toMatch(/job local_test failed: .*max_tokens/);
        expect(failing.stdout).toBe("");

        const nothing = await runWorkerOnce(["--data-dir", dataDir], {}, tempDataDir("mentator-worker-empty-"));
        expect(nothing.code).toBe(2);
        expect(nothing.stderr).toMatch(/RUNPOD_WEBHOOK_GET_JOB is not set and there is no test input/);
    }, 300_000);
});
