import { QueueFullError, RequestTimeoutError, ShuttingDownError } from "./engineErrors.js";
import type { ModelLease, ModelPool } from "./ModelPool.js";
import type { LoadedModel } from "./types.js";

export interface SchedulerOptions {
    pool: ModelPool;
    /** Requests allowed to wait per model when all its sequences are busy. */
    maxQueue: number;
    /** Deadline for a request from acquire to release. */
    requestTimeoutMs: number;
}

/** A sequence of a loaded model, held by one request until release(). */
export interface WorkSlot {
    readonly model: LoadedModel;
    /** Time spent waiting for the model and a free sequence. */
    readonly queueSeconds: number;
    /** Aborts on client abort or on the request deadline (reason: RequestTimeoutError). */
    readonly signal: AbortSignal;
    release(): void;
}

export interface ModelQueueStats {
    model: string;
    running: number;
    waiting: number;
}

interface Waiter {
    grant(): void;
    fail(error: Error): void;
}

interface ModelSlots {
    running: number;
    capacity: number;
    waiters: Waiter[];
}

/**
 * Admits requests to a model's parallel sequences. Requests beyond the sequences wait in a bounded queue;
 * beyond that they fail at once with QueueFullError (HTTP 503). All running requests of a model share one
 * engine context, so the engine batches them together (continuous batching).
 */
export class Scheduler {
    private readonly options: SchedulerOptions;
    private readonly models = new Map<string, ModelSlots>();
    private shuttingDown = false;

    public constructor(options: SchedulerOptions) {
        this.options = options;
    }

    public get maxQueue(): number {
        return this.options.maxQueue;
    }

    public stats(): ModelQueueStats[] {
        return [...this.models.entries()].map(([model, slots]) => ({ model, running: slots.running, waiting: slots.waiters.length }));
    }

    public totals(): { running: number; waiting: number } {
        return this.stats().reduce((sum, model) => ({ running: sum.running + model.running, waiting: sum.waiting + model.waiting }), {
            running: 0,
            waiting: 0
        });
    }

    /** Waits for the model and a free sequence. The caller must release() the slot, also on errors. */
    public async acquire(modelId: string, clientSignal: AbortSignal): Promise<WorkSlot> {
        if (this.shuttingDown) throw new ShuttingDownError();
        const started = performance.now();
        const deadline = AbortSignal.timeout(this.options.requestTimeoutMs);
        const timeout = new AbortController();
        deadline.addEventListener("abort", () => timeout.abort(new RequestTimeoutError(this.options.requestTimeoutMs)), { once: true });
        const signal = AbortSignal.any([clientSignal, timeout.signal]);

        const known = this.models.get(modelId);
        if (known !== undefined && known.running >= known.capacity && known.waiters.length >= this.options.maxQueue) {
            throw new QueueFullError(modelId, this.options.maxQueue);
        }
        const lease = await this.options.pool.acquire(modelId, signal);
        try {
            await this.takeSequence(modelId, lease, signal);
        } catch (error) {
            lease.release();
            throw error;
        }
        let released = false;
        return {
            model: lease.model,
            queueSeconds: (performance.now() - started) / 1000,
            signal,
            release: () => {
                if (released) return;
                released = true;
                this.giveBack(modelId);
                lease.release();
            }
        };
    }

    /** Rejects everything waiting; running requests finish (or are aborted by their owners). */
    public beginShutdown(): void {
        this.shuttingDown = true;
        for (const slots of this.models.values()) {
            for (const waiter of slots.waiters.splice(0)) waiter.fail(new ShuttingDownError());
        }
    }

    private takeSequence(modelId: string, lease: ModelLease, signal: AbortSignal): Promise<void> {
        let slots = this.models.get(modelId);
        if (slots === undefined) {
            slots = { running: 0, capacity: lease.model.info.parallel, waiters: [] };
            this.models.set(modelId, slots);
        }
        slots.capacity = lease.model.info.parallel;
        if (slots.running < slots.capacity) {
            slots.running++;
            return Promise.resolve();
        }
        if (slots.waiters.length >= this.options.maxQueue) {
            return Promise.reject(new QueueFullError(modelId, this.options.maxQueue));
        }
        const queue = slots;
        return new Promise<void>((resolve, reject) => {
            const waiter: Waiter = {
                grant: () => {
                    signal.removeEventListener("abort", onAbort);
                    resolve();
                },
                fail: (error) => {
                    signal.removeEventListener("abort", onAbort);
                    reject(error);
                }
            };
            const onAbort = (): void => {
                const index = queue.waiters.indexOf(waiter);
                if (index >= 0) queue.waiters.splice(index, 1);
                reject(signal.reason as Error);
            };
            signal.addEventListener("abort", onAbort, { once: true });
            queue.waiters.push(waiter);
        });
    }

    private giveBack(modelId: string): void {
        const slots = this.models.get(modelId);
        if (slots === undefined) return;
        const next = slots.waiters.shift();
        if (next !== undefined) {
            next.grant(); // the sequence passes straight to the next request; running stays the same
            return;
        }
        slots.running = Math.max(0, slots.running - 1);
    }
}
