import { setTimeout as delay } from "node:timers/promises";
import type { Logger } from "../../util/logger.js";
import type { JobHandler } from "./JobHandler.js";
import type { JobResultBody, RunPodJob, RunPodQueue } from "./RunPodQueue.js";
import { WorkerStoppedError } from "./WorkerStoppedError.js";

export interface RunPodWorkerOptions {
    queue: RunPodQueue;
    handler: JobHandler;
    log: Logger;
    /** Jobs run at once (jobs.concurrency). Defaults to 1. */
    concurrency?: number;
    /** Heartbeat period in ms (RUNPOD_PING_INTERVAL); 0 sends none. Defaults to 10 000. */
    pingIntervalMs?: number;
    /** Pause after a take that found no job, in ms (RunPod's queue long-polls; this only guards against a busy loop). Defaults to 200. */
    idleDelayMs?: number;
    /** Pause after HTTP 429 without `Retry-After`, in ms. Defaults to 5000, as RunPod's own worker. */
    throttleDelayMs?: number;
    /** Pause after a failed take (network error, 5xx), in ms. Defaults to 1000. */
    errorDelayMs?: number;
    /** On stop, how long in-flight jobs may still finish before they are handed back, in ms. Defaults to 10 000. */
    shutdownGraceMs?: number;
}

interface ActiveJob {
    id: string;
    controller: AbortController;
    done: Promise<void>;
}

/**
 * The RunPod Serverless worker loop: long-polls job-take while it has free slots, runs each job through the
 * handler, streams partial outputs, posts the result to job-done and pings the ids in progress. `stop()` ends
 * taking at once; in-flight jobs get `shutdownGraceMs` to finish, then are aborted and handed back (no result
 * is posted, and the last ping no longer lists them, so the queue gives them to another worker).
 */
export class RunPodWorker {
    private readonly options: RunPodWorkerOptions;
    private readonly concurrency: number;
    private readonly active = new Map<string, ActiveJob>();
    private readonly stopController = new AbortController();
    private readonly takeController = new AbortController();
    private takeAbortTimer: NodeJS.Timeout | undefined;
    private stopDeadline = 0;
    private slotWaiters: Array<() => void> = [];
    private completed = 0;
    private failed = 0;
    private handedBack = 0;

    public constructor(options: RunPodWorkerOptions) {
        this.options = options;
        this.concurrency = Math.max(1, options.concurrency ?? 1);
    }

    public get stopping(): boolean {
        return this.stopController.signal.aborted;
    }

    /** Ids of the jobs running now. */
    public inProgress(): string[] {
        return [...this.active.keys()];
    }

    /** Counts since start, for the exit log. */
    public stats(): { completed: number; failed: number; handedBack: number } {
        return { completed: this.completed, failed: this.failed, handedBack: this.handedBack };
    }

    /** Stops taking jobs; `run()` resolves once in-flight jobs are finished or handed back. */
    public stop(): void {
        if (this.stopping) return;
        const graceMs = this.options.shutdownGraceMs ?? 10_000;
        this.stopDeadline = Date.now() + graceMs;
        this.options.log.info({ inProgress: this.inProgress() }, "worker stopping: no new jobs");
        this.stopController.abort();
        this.wakeSlotWaiters();
        // A take in flight may already carry a job the queue counts as ours: let it answer within the grace
        // period (RunPod's own worker lets it finish too), and run what it brings.
        this.takeAbortTimer = setTimeout(() => this.takeController.abort(), graceMs);
    }

    /** Runs until `stop()`. */
    public async run(): Promise<void> {
        // Heartbeats go on while in-flight jobs drain, so the queue does not give them away meanwhile.
        const pingStop = new AbortController();
        const pinging = this.pingLoop(pingStop.signal);
        await this.takeLoop();
        clearTimeout(this.takeAbortTimer);
        await this.drain();
        pingStop.abort();
        await pinging;
        // A last heartbeat without the handed-back ids tells the queue they are no longer being worked on.
        await this.sendPing();
        this.options.log.info(this.stats(), "worker stopped");
    }

    private async takeLoop(): Promise<void> {
        const { queue, log } = this.options;
        while (!this.stopping) {
            if (this.active.size >= this.concurrency) {
                await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
                continue;
            }
            let result;
            try {
                result = await queue.takeJob({ inProgress: this.active.size > 0, signal: this.takeController.signal });
            } catch (error) {
                if (this.stopping) break;
                log.warn({ err: (error as Error).message }, "job-take failed; retrying");
                await this.pause(this.options.errorDelayMs ?? 1000);
                continue;
            }
            switch (result.kind) {
                case "none":
                    log.debug({ reason: result.reason }, "no job");
                    await this.pause(this.options.idleDelayMs ?? 200);
                    break;
                case "throttled": {
                    // A Retry-After is honoured up to a minute, so a bad header cannot park the worker.
                    const waitMs = Math.min(result.retryAfterMs ?? this.options.throttleDelayMs ?? 5000, 60_000);
                    log.info({ waitMs }, "job-take throttled (HTTP 429); backing off");
                    await this.pause(waitMs);
                    break;
                }
                case "jobs":
                    for (const job of result.jobs) this.start(job);
                    break;
            }
        }
    }

    private start(job: RunPodJob): void {
        if (this.active.has(job.id)) {
            this.options.log.warn({ jobId: job.id }, "job-take returned a job already in progress; ignored");
            return;
        }
        const controller = new AbortController();
        const entry: ActiveJob = { id: job.id, controller, done: Promise.resolve() };
        this.active.set(job.id, entry);
        entry.done = this.runJob(job, controller).finally(() => {
            this.active.delete(job.id);
            this.wakeSlotWaiters();
        });
    }

    private async runJob(job: RunPodJob, controller: AbortController): Promise<void> {
        const { queue, handler, log } = this.options;
        const started = performance.now();
        log.info({ jobId: job.id }, "job started");
        let streamed = false;
        let streamChain: Promise<void> = Promise.resolve();
        const onPartial = (chunk: unknown): void => {
            // Partials are posted one after another, in order, without holding up generation.
            streamChain = streamChain.then(async () => {
                try {
                    if (await queue.postStream(job.id, chunk)) streamed = true;
                } catch (error) {
                    log.warn({ jobId: job.id, err: (error as Error).message }, "could not post a partial output");
                }
            });
        };
        let body: JobResultBody;
        try {
            const output = await handler({ id: job.id, input: job.input }, { signal: controller.signal, onPartial });
            body = { output };
        } catch (error) {
            if (controller.signal.reason instanceof WorkerStoppedError) {
                await streamChain;
                this.handedBack++;
                log.warn({ jobId: job.id }, "job handed back: worker stopped before it finished");
                return;
            }
            body = { error: error instanceof Error ? error.message : String(error) };
        }
        await streamChain;
        try {
            await queue.postResult(job.id, body, streamed);
        } catch (error) {
            log.error({ jobId: job.id, err: (error as Error).message }, "could not post the job result");
        }
        const ms = Math.round(performance.now() - started);
        if ("error" in body) {
            this.failed++;
            log.warn({ jobId: job.id, ms, error: body.error }, "job failed");
        } else {
            this.completed++;
            log.info({ jobId: job.id, ms }, "job done");
        }
    }

    /** Waits for in-flight jobs, up to the grace period; then aborts the rest and waits for them to unwind. */
    private async drain(): Promise<void> {
        if (this.active.size === 0) return;
        const graceMs = Math.max(0, this.stopDeadline - Date.now());
        this.options.log.info({ inProgress: this.inProgress(), graceMs }, "waiting for jobs in progress");
        const allDone = (): Promise<void> => Promise.all([...this.active.values()].map((job) => job.done)).then(() => undefined);
        const timer = new AbortController();
        const finished = await Promise.race([
            allDone().then(() => true),
            delay(graceMs, false, { signal: timer.signal }).catch(() => false)
        ]);
        timer.abort();
        if (finished) return;
        for (const job of this.active.values()) job.controller.abort(new WorkerStoppedError());
        await allDone();
    }

    private async pingLoop(signal: AbortSignal): Promise<void> {
        const interval = this.options.pingIntervalMs ?? 10_000;
        if (interval <= 0) return;
        while (!signal.aborted) {
            await this.sendPing();
            await delay(interval, undefined, { signal }).catch(() => undefined);
        }
    }

    private async sendPing(): Promise<void> {
        if ((this.options.pingIntervalMs ?? 10_000) <= 0) return;
        try {
            await this.options.queue.ping(this.inProgress());
        } catch (error) {
            this.options.log.warn({ err: (error as Error).message }, "heartbeat failed");
        }
    }

    private async pause(ms: number): Promise<void> {
        if (ms <= 0 || this.stopping) return;
        await delay(ms, undefined, { signal: this.stopController.signal }).catch(() => undefined);
    }

    private wakeSlotWaiters(): void {
        const waiters = this.slotWaiters;
        this.slotWaiters = [];
        for (const wake of waiters) wake();
    }
}
