import { describe, expect, it } from "vitest";
import { QueueFullError, RequestTimeoutError, ShuttingDownError } from "../../src/engine/engineErrors.js";
import { ModelPool } from "../../src/engine/ModelPool.js";
import { Scheduler } from "../../src/engine/Scheduler.js";
import type { InferenceEngine, LoadedModel } from "../../src/engine/types.js";

function fakeEngine(parallel: number): InferenceEngine {
    return {
        name: "fake",
        describe: () => ({ name: "fake", version: "0", backend: "cpu" }),
        async loadModel(spec) {
            return { id: spec.id, info: { contextSize: 256, parallel, hasChatTemplate: false }, dispose: async () => {} } as unknown as LoadedModel;
        },
        async dispose() {}
    };
}

function makeScheduler(options: { parallel?: number; maxQueue?: number; timeoutMs?: number } = {}): Scheduler {
    const engine = fakeEngine(options.parallel ?? 2);
    const pool = new ModelPool({
        maxLoadedModels: 1,
        log: { info() {}, warn() {} },
        planLoad: async (id) => ({ engine, keepAliveMs: -1, spec: { id, path: "/x", contextSize: 256, parallel: 0 } })
    });
    return new Scheduler({ pool, maxQueue: options.maxQueue ?? 2, requestTimeoutMs: options.timeoutMs ?? 60_000 });
}

const never = new AbortController().signal;

describe("Scheduler", () => {
    it("runs up to `parallel` requests, queues up to maxQueue, rejects the rest at once", async () => {
        const scheduler = makeScheduler({ parallel: 2, maxQueue: 2 });
        const running = await Promise.all([scheduler.acquire("m", never), scheduler.acquire("m", never)]);
        const queued = [scheduler.acquire("m", never), scheduler.acquire("m", never)];
        await new Promise((resolve) => setTimeout(resolve, 5));
        expect(scheduler.totals()).toEqual({ running: 2, waiting: 2 });
        await expect(scheduler.acquire("m", never)).rejects.toBeInstanceOf(QueueFullError);
        running[0]!.release();
        const next = await queued[0]!;
        expect(scheduler.totals()).toEqual({ running: 2, waiting: 1 });
        next.release();
        running[1]!.release();
        (await queued[1]!).release();
        expect(scheduler.totals()).toEqual({ running: 0, waiting: 0 });
    });

    it("drops a waiting request whose client aborts, without taking a sequence", async () => {
        const scheduler = makeScheduler({ parallel: 1, maxQueue: 2 });
        const holder = await scheduler.acquire("m", never);
        const controller = new AbortController();
        const waiting = scheduler.acquire("m", controller.signal);
        await new Promise((resolve) => setTimeout(resolve, 5));
        controller.abort(new Error("gone"));
        await expect(waiting).rejects.toThrow("gone");
        expect(scheduler.totals()).toEqual({ running: 1, waiting: 0 });
        holder.release();
        expect(scheduler.totals()).toEqual({ running: 0, waiting: 0 });
    });

    it("aborts a slot's signal with RequestTimeoutError at the deadline", async () => {
        const scheduler = makeScheduler({ timeoutMs: 20 });
        const slot = await scheduler.acquire("m", never);
        await new Promise((resolve) => setTimeout(resolve, 60));
        expect(slot.signal.aborted).toBe(true);
        expect(slot.signal.reason).toBeInstanceOf(RequestTimeoutError);
        slot.release();
    });

    it("fails waiting requests on shutdown and refuses new ones", async () => {
        const scheduler = makeScheduler({ parallel: 1 });
        const holder = await scheduler.acquire("m", never);
        const waiting = scheduler.acquire("m", never);
        await new Promise((resolve) => setTimeout(resolve, 5));
        scheduler.beginShutdown();
        await expect(waiting).rejects.toBeInstanceOf(ShuttingDownError);
        await expect(scheduler.acquire("m", never)).rejects.toBeInstanceOf(ShuttingDownError);
        holder.release();
    });
});
