import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A fake of RunPod's serverless queue as a worker sees it: job-take (long poll), job-done, job-stream and ping,
 * at RunPod-like paths. Records every call; scripted answers inject 204/400/429/empty bodies; stream posts can
 * be slowed down to keep a job in progress.
 */

export interface QueueJob {
    id: string;
    input: Record<string, unknown>;
    [field: string]: unknown;
}

export interface TakeCall {
    at: number;
    workerId: string;
    jobInProgress: string | null;
    query: URLSearchParams;
    authorization: string | undefined;
    /** What the fake answered. */
    answer: string;
}

export interface PostCall {
    at: number;
    workerId: string;
    jobId: string;
    isStream: string | null;
    body: Record<string, unknown>;
    authorization: string | undefined;
    contentType: string | undefined;
    requestId: string | undefined;
}

export interface PingCall {
    at: number;
    workerId: string;
    jobIds: string[];
    authorization: string | undefined;
}

/** A scripted answer for one job-take, used before the job queue. */
export type TakeScript = { status: 204 | 400 } | { status: 429; retryAfter?: string } | { status: 200; body: string };

export interface FakeRunPodQueue {
    url: string;
    /** Env for `mentator worker`: the RUNPOD_WEBHOOK_* templates pointing here. */
    env(extra?: Record<string, string>): Record<string, string>;
    enqueue(...jobs: QueueJob[]): void;
    script(...answers: TakeScript[]): void;
    /** Every stream post for these jobs is answered only after `ms`. */
    slowStream(ms: number): void;
    takes: TakeCall[];
    results: PostCall[];
    streams: PostCall[];
    pings: PingCall[];
    waitFor<T>(what: () => T | undefined, timeoutMs?: number, label?: string): Promise<T>;
    close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
}

export async function startFakeRunPodQueue(options: { holdMs?: number } = {}): Promise<FakeRunPodQueue> {
    const holdMs = options.holdMs ?? 200;
    const queue: QueueJob[] = [];
    const scripted: TakeScript[] = [];
    const takes: TakeCall[] = [];
    const results: PostCall[] = [];
    const streams: PostCall[] = [];
    const pings: PingCall[] = [];
    let streamDelayMs = 0;
    const waiting = new Set<() => void>();

    const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
        const parsed = new URL(request.url ?? "/", "http://fake");
        const parts = parsed.pathname.split("/").filter((part) => part !== "");
        const authorization = request.headers.authorization;
        // /v2/<endpoint>/<action>/<workerId>[/<jobId>]
        const [, , action, workerId = "", jobId = ""] = parts;
        const body = await readBody(request);
        switch (action) {
            case "job-take": {
                const call: TakeCall = { at: Date.now(), workerId, jobInProgress: parsed.searchParams.get("job_in_progress"), query: parsed.searchParams, authorization, answer: "" };
                takes.push(call);
                const script = scripted.shift();
                if (script !== undefined) {
                    call.answer = String(script.status);
                    if (script.status === 200) {
                        response.writeHead(200, { "Content-Type": "application/json" });
                        response.end(script.body);
                    } else {
                        response.writeHead(script.status, script.status === 429 && script.retryAfter !== undefined ? { "Retry-After": script.retryAfter } : {});
                        response.end();
                    }
                    return;
                }
                // Long poll: wait a little for a job, then 204. A worker that hung up gets no job.
                let gone = false;
                response.once("close", () => {
                    gone = true;
                    for (const wake of [...waiting]) wake();
                });
                const deadline = Date.now() + holdMs;
                while (queue.length === 0 && Date.now() < deadline && !gone) {
                    await new Promise<void>((resolve) => {
                        const wake = (): void => {
                            waiting.delete(wake);
                            resolve();
                        };
                        waiting.add(wake);
                        setTimeout(wake, Math.max(1, deadline - Date.now()));
                    });
                }
                if (gone) {
                    call.answer = "aborted";
                    return;
                }
                const job = queue.shift();
                if (job === undefined) {
                    call.answer = "204";
                    response.writeHead(204);
                    response.end();
                    return;
                }
                call.answer = `job ${job.id}`;
                response.writeHead(200, { "Content-Type": "application/json" });
                response.end(JSON.stringify(job));
                return;
            }
            case "job-done":
            case "job-stream": {
                const call: PostCall = {
                    at: Date.now(),
                    workerId,
                    jobId,
                    isStream: parsed.searchParams.get("isStream"),
                    body: JSON.parse(body) as Record<string, unknown>,
                    authorization,
                    contentType: request.headers["content-type"],
                    requestId: request.headers["x-request-id"] as string | undefined
                };
                if (action === "job-stream" && streamDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, streamDelayMs));
                (action === "job-done" ? results : streams).push(call);
                response.writeHead(200, { "Content-Type": "application/json" });
                response.end("{}");
                return;
            }
            case "ping": {
                const ids = parsed.searchParams.get("job_id");
                pings.push({ at: Date.now(), workerId, jobIds: ids === null || ids === "" ? [] : ids.split(","), authorization });
                response.writeHead(200);
                response.end();
                return;
            }
            default:
                response.writeHead(404);
                response.end(`no route ${request.method} ${parsed.pathname}`);
        }
    };

    const server = createServer((request, response) => {
        handle(request, response).catch((error: unknown) => {
            if (!response.headersSent) response.writeHead(500);
            response.end(String(error));
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
        url,
        env: (extra = {}) => ({
            RUNPOD_WEBHOOK_GET_JOB: `${url}/v2/test-endpoint/job-take/$RUNPOD_POD_ID?gpu=NVIDIA+H100`,
            RUNPOD_WEBHOOK_POST_OUTPUT: `${url}/v2/test-endpoint/job-done/$RUNPOD_POD_ID/$ID?gpu=NVIDIA+H100`,
            RUNPOD_WEBHOOK_POST_STREAM: `${url}/v2/test-endpoint/job-stream/$RUNPOD_POD_ID/$ID?gpu=NVIDIA+H100`,
            RUNPOD_WEBHOOK_PING: `${url}/v2/test-endpoint/ping/$RUNPOD_POD_ID?gpu=NVIDIA+H100`,
            RUNPOD_AI_API_KEY: "test-runpod-key",
            RUNPOD_POD_ID: "worker-abc",
            ...extra
        }),
        enqueue: (...jobs) => {
            queue.push(...jobs);
            for (const wake of [...waiting]) wake();
        },
        script: (...answers) => scripted.push(...answers),
        slowStream: (ms) => {
            streamDelayMs = ms;
        },
        takes,
        results,
        streams,
        pings,
        async waitFor(what, timeoutMs = 60_000, label = "condition") {
            const deadline = Date.now() + timeoutMs;
            for (;;) {
                const value = what();
                if (value !== undefined && value !== false) return value;
                if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
                await new Promise((resolve) => setTimeout(resolve, 25));
            }
        },
        close: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            })
    };
}
