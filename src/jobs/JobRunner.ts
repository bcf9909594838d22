import { randomUUID } from "node:crypto";
import type { FileConfig } from "../config/schema.js";
import type { OutputMode } from "../storage/OutputSink.js";
import type { Logger } from "../util/logger.js";
import { JobCancelledError } from "./JobCancelledError.js";
import { JobNotFoundError } from "./JobNotFoundError.js";
import { JobStateError } from "./JobStateError.js";
import { isFinalStatus, type JobCounts, type JobRecord, type JobStore } from "./JobStore.js";
import { JobTimeoutError } from "./JobTimeoutError.js";
import { parseJobInput } from "./parseJobInput.js";
import { runJobOnce, type JobDeps } from "./runJobOnce.js";
import type { JobInput } from "./types.js";
import { UnknownEndpointError } from "./UnknownEndpointError.js";
import { WebhookSender } from "./WebhookSender.js";

export type JobSettings = FileConfig["jobs"];

export interface JobRunnerOptions {
    store: JobStore;
    deps: JobDeps;
    settings: JobSettings;
    log: Logger;
    /** Whether the service can take work (the default model is loaded); shapes the workers in /health. */
    isReady?(): boolean;
}

export interface SubmitJobRequest {
    endpoint: string;
    input: JobInput;
    webhook?: string;
    output?: OutputMode;
    /** Default: jobs.executionTimeoutMs. */
    executionTimeoutMs?: number;
    /** Default: jobs.ttlMs. */
    ttlMs?: number;
    /** Id prefix (`sync-` for /runsync, like RunPod). */
    idPrefix?: string;
}

export interface EndpointHealth {
    jobs: JobCounts;
    workers: { idle: number; initializing: number; ready: number; running: number; throttled: number; unhealthy: number };
}

/** Abort reason of jobs stopped because the service is stopping: they go back to the queue. */
class ShutdownAbort extends Error {
    public constructor() {
        super("the service is shutting down; the job goes back to the queue");
        this.name = "ShutdownAbort";
    }
}

const SAFETY_POLL_MS = 5000;

/**
 * Runs queued jobs, `jobs.concurrency` at a time, on top of the inference scheduler. Owns the job lifecycle:
 * submission (validated), cancel (stops generation in flight), retry, purge, crash recovery, TTL purge and
 * webhooks. HTTP routes are thin calls into it.
 */
export class JobRunner {
    private readonly options: JobRunnerOptions;
    private readonly store: JobStore;
    private readonly webhooks: WebhookSender;
    private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
    private started = false;
    private stopping = false;
    private timers: NodeJS.Timeout[] = [];

    public constructor(options: JobRunnerOptions) {
        this.options = options;
        this.store = options.store;
        this.webhooks = new WebhookSender({
            store: options.store,
            log: options.log,
            attempts: options.settings.webhookAttempts,
            retryBaseMs: options.settings.webhookRetryBaseMs,
            timeoutMs: options.settings.webhookTimeoutMs
        });
    }

    public get concurrency(): number {
        return this.options.settings.concurrency;
    }

    /** Recovers jobs a crash left IN_PROGRESS, then starts taking jobs, purging expired ones and resending webhooks. */
    public start(): void {
        if (this.started || this.stopping) return;
        this.started = true;
        const { log, settings } = this.options;
        const recovered = this.store.recoverInterrupted(settings.maxAttempts);
        if (recovered.requeued.length > 0 || recovered.failed.length > 0) {
            log.warn({ requeued: recovered.requeued, failed: recovered.failed }, "jobs interrupted by a previous stop recovered");
        }
        this.purgeExpired();
        this.webhooks.resumePending();
        this.timers.push(setInterval(() => this.purgeExpired(), settings.purgeIntervalMs).unref());
        this.timers.push(setInterval(() => this.pump(), SAFETY_POLL_MS).unref());
        this.pump();
    }

    /** Throws UnknownEndpointError when `jobs.endpoints` is set and does not list the name. */
    public checkEndpoint(endpoint: string): void {
        const known = this.options.settings.endpoints;
        if (known.length > 0 && !known.includes(endpoint)) throw new UnknownEndpointError(endpoint, known);
    }

    /** Validates the input (JobInputError) and queues the job. */
    public submit(request: SubmitJobRequest): JobRecord {
        this.checkEndpoint(request.endpoint);
        parseJobInput(request.input);
        const { settings } = this.options;
        const job = this.store.create({
            id: `${request.idPrefix ?? ""}${randomUUID()}`,
            endpoint: request.endpoint,
            input: request.input,
            outputMode: request.output,
            webhook: request.webhook,
            executionTimeoutMs: request.executionTimeoutMs ?? settings.executionTimeoutMs,
            ttlMs: request.ttlMs ?? settings.ttlMs
        });
        this.pump();
        return job;
    }

    public get(endpoint: string, id: string): JobRecord {
        this.checkEndpoint(endpoint);
        const job = this.store.get(id);
        if (job === undefined || job.endpoint !== endpoint) throw new JobNotFoundError(endpoint, id);
        return job;
    }

    /** Cancels a queued or running job (generation stops at once); a finished job is left as it is. */
    public cancel(endpoint: string, id: string): JobRecord {
        this.get(endpoint, id);
        this.store.cancel(id, "cancelled by request");
        this.running.get(id)?.controller.abort(new JobCancelledError());
        const job = this.store.get(id)!;
        if (job.status === "CANCELLED") this.notifyFinished(job);
        return job;
    }

    /** Re-queues a FAILED or TIMED_OUT job under the same id. */
    public retry(endpoint: string, id: string): JobRecord {
        const before = this.get(endpoint, id);
        if (before.status !== "FAILED" && before.status !== "TIMED_OUT") {
            throw new JobStateError(`job "${id}" is ${before.status}; only FAILED or TIMED_OUT jobs can be retried`, before.status);
        }
        this.store.retry(id);
        const queued = this.store.get(id)!;
        this.pump();
        return queued;
    }

    /** Cancels every queued job of the endpoint (running ones go on); returns how many. */
    public purgeQueue(endpoint: string): number {
        this.checkEndpoint(endpoint);
        const purged = this.store.purgeQueue(endpoint);
        for (const id of purged) {
            const job = this.store.get(id);
            if (job !== undefined) this.notifyFinished(job);
        }
        return purged.length;
    }

    /** The job once it is finished, or as it is when `waitMs` runs out (or the client leaves, or shutdown). */
    public async waitForFinal(endpoint: string, id: string, waitMs: number, signal?: AbortSignal): Promise<JobRecord> {
        const deadline = Date.now() + waitMs;
        for (;;) {
            const job = this.get(endpoint, id);
            const remaining = deadline - Date.now();
            if (isFinalStatus(job.status) || remaining <= 0 || this.stopping || signal?.aborted === true) return job;
            await this.store.waitForChange(id, remaining, signal);
        }
    }

    /**
     * Partial outputs not handed out before, with the job's status. Waits up to `waitMs` for the first new one
     * so that clients polling in a loop are not answered empty at once.
     */
    public async takeStream(endpoint: string, id: string, waitMs: number, signal?: AbortSignal): Promise<{ job: JobRecord; chunks: unknown[] }> {
        const deadline = Date.now() + waitMs;
        for (;;) {
            const job = this.get(endpoint, id);
            const chunks = this.store.takeStream(id);
            const remaining = deadline - Date.now();
            if (chunks.length > 0 || isFinalStatus(job.status) || remaining <= 0 || this.stopping || signal?.aborted === true) return { job, chunks };
            await this.store.waitForChange(id, remaining, signal);
        }
    }

    public health(endpoint: string): EndpointHealth {
        this.checkEndpoint(endpoint);
        const running = this.running.size;
        const ready = this.started && !this.stopping && (this.options.isReady?.() ?? true);
        const concurrency = this.concurrency;
        return {
            jobs: this.store.counts(endpoint),
            workers: {
                idle: ready ? Math.max(0, concurrency - running) : 0,
                initializing: ready || this.stopping ? 0 : concurrency,
                ready: ready ? concurrency : 0,
                running,
                throttled: 0,
                unhealthy: 0
            }
        };
    }

    /** Stops taking jobs and stops the running ones (they return to the queue); wakes every waiting request. */
    public beginShutdown(): void {
        if (this.stopping) return;
        this.stopping = true;
        for (const timer of this.timers) clearInterval(timer);
        this.timers = [];
        for (const { controller } of this.running.values()) controller.abort(new ShutdownAbort());
        this.store.wakeAll();
    }

    /** Waits for the running jobs to wind down and for webhook deliveries to stop. */
    public async stop(): Promise<void> {
        this.beginShutdown();
        await Promise.allSettled([...this.running.values()].map((entry) => entry.done));
        await this.webhooks.stop();
    }

    private pump(): void {
        if (!this.started || this.stopping) return;
        while (this.running.size < this.concurrency) {
            const job = this.store.claimNext();
            if (job === undefined) return;
            const controller = new AbortController();
            const done = this.execute(job, controller).finally(() => {
                this.running.delete(job.id);
                this.pump();
            });
            this.running.set(job.id, { controller, done });
        }
    }

    private async execute(job: JobRecord, controller: AbortController): Promise<void> {
        const { log } = this.options;
        log.info({ job: job.id, endpoint: job.endpoint, attempt: job.attempts, delayMs: job.delayTimeMs }, "job started");
        try {
            const result = await runJobOnce(job.input, this.options.deps, {
                jobId: job.id,
                createdAt: new Date(job.createdAt),
                executionTimeoutMs: job.executionTimeoutMs,
                output: job.outputMode,
                signal: controller.signal,
                onPartial: (chunk) => this.store.appendStream(job.id, chunk)
            });
            if (this.store.complete(job.id, result.output)) log.info({ job: job.id }, "job completed");
        } catch (error) {
            if (error instanceof JobCancelledError) {
                log.info({ job: job.id }, "job cancelled while running");
            } else if (error instanceof ShutdownAbort || (this.stopping && !(error instanceof JobTimeoutError))) {
                this.store.requeue(job.id, false);
                log.info({ job: job.id }, "job returned to the queue for the next start");
            } else if (error instanceof JobTimeoutError) {
                this.store.fail(job.id, "TIMED_OUT", error.message);
                log.warn({ job: job.id, timeoutMs: error.timeoutMs }, "job timed out");
            } else {
                const message = error instanceof Error ? error.message : String(error);
                this.store.fail(job.id, "FAILED", message);
                log.warn({ job: job.id, err: message }, "job failed");
            }
        }
        const finished = this.store.get(job.id);
        if (finished !== undefined && isFinalStatus(finished.status) && finished.status !== "CANCELLED") this.notifyFinished(finished);
    }

    private notifyFinished(job: JobRecord): void {
        if (job.webhook !== undefined && job.webhookState === "pending") this.webhooks.deliver(job);
    }

    private purgeExpired(): void {
        try {
            const removed = this.store.purgeExpired();
            if (removed > 0) this.options.log.debug({ removed }, "expired jobs deleted");
        } catch (error) {
            this.options.log.warn({ err: (error as Error).message }, "purging expired jobs failed");
        }
    }
}
