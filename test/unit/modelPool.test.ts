import { describe, expect, it } from "vitest";
import { ModelLoadError, ShuttingDownError } from "../../src/engine/engineErrors.js";
import { ModelPool, type ModelLoadPlan } from "../../src/engine/ModelPool.js";
import type { InferenceEngine, LoadedModel, ModelLoadSpec } from "../../src/engine/types.js";
import { ModelNotFoundError } from "../../src/models/modelErrors.js";

/** An engine whose loads complete when the test says so. */
class FakeEngine implements InferenceEngine {
    public readonly name = "fake";
    public loads: string[] = [];
    public disposed: string[] = [];
    public failing = new Set<string>();
    public gates = new Map<string, () => void>();
    public gated = false;

    public describe() {
        return { name: "fake", version: "0", backend: "cpu" };
    }

    public async loadModel(spec: ModelLoadSpec, signal?: AbortSignal): Promise<LoadedModel> {
        this.loads.push(spec.id);
        if (this.gated) {
            await new Promise<void>((resolve, reject) => {
                this.gates.set(spec.id, resolve);
                signal?.addEventListener("abort", () => reject(new Error("aborted")));
            });
        }
        if (this.failing.has(spec.id)) throw new Error("out of memory");
        const disposed = this.disposed;
        return {
            id: spec.id,
            info: { contextSize: 256, parallel: 1, hasChatTemplate: false },
            async dispose() {
                disposed.push(spec.id);
            }
        };
    }

    public async dispose(): Promise<void> {}
}

const silent = { info() {}, warn() {} };

function makePool(engine: FakeEngine, options: { max?: number; keepAliveMs?: number; known?: string[] } = {}): ModelPool {
    const known = new Set(options.known ?? ["a", "b", "c"]);
    return new ModelPool({
        maxLoadedModels: options.max ?? 1,
        log: silent,
        planLoad: async (id): Promise<ModelLoadPlan> => {
            if (!known.has(id)) throw new ModelNotFoundError(id);
            return { engine, keepAliveMs: options.keepAliveMs ?? -1, spec: { id, path: `/m/${id}.gguf`, contextSize: 256, parallel: 1 } };
        }
    });
}

describe("ModelPool", () => {
    it("shares one load between concurrent first requests", async () => {
        const engine = new FakeEngine();
        const pool = makePool(engine);
        const leases = await Promise.all([pool.acquire("a"), pool.acquire("a"), pool.acquire("a")]);
        expect(engine.loads).toEqual(["a"]);
        expect(pool.status()[0]?.activeLeases).toBe(3);
        leases.forEach((lease) => lease.release());
        expect(pool.status()[0]?.activeLeases).toBe(0);
    });

    it("evicts the least recently used idle model, never one in use", async () => {
        const engine = new FakeEngine();
        const pool = makePool(engine, { max: 2 });
        const a = await pool.acquire("a");
        (await pool.acquire("b")).release();
        // a is busy, b idle: loading c evicts b even though a was used earlier.
        const c = await pool.acquire("c");
        expect(engine.disposed).toEqual(["b"]);
        expect(pool.isLoaded("a")).toBe(true);
        c.release();
        a.release();
    });

    it("waits for a busy model to be released when every slot is in use", async () => {
        const engine = new FakeEngine();
        const pool = makePool(engine, { max: 1 });
        const a = await pool.acquire("a");
        let bLoaded = false;
        const pendingB = pool.acquire("b").then((lease) => {
            bLoaded = true;
            return lease;
        });
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(bLoaded).toBe(false);
        a.release();
        const b = await pendingB;
        expect(engine.disposed).toEqual(["a"]);
        b.release();
    });

    it("unloads an idle model after its keep-alive, but not a pinned one", async () => {
        const engine = new FakeEngine();
        const pool = makePool(engine, { max: 3, keepAliveMs: 20 });
        pool.pin("a");
        (await pool.acquire("a")).release();
        (await pool.acquire("b")).release();
        await new Promise((resolve) => setTimeout(resolve, 80));
        expect(engine.disposed).toEqual(["b"]);
        expect(pool.isLoaded("a")).toBe(true);
    });

    it("turns engine failures into ModelLoadError and retries on the next request", async () => {
        const engine = new FakeEngine();
        engine.failing.add("a");
        const pool = makePool(engine);
        await expect(pool.acquire("a")).rejects.toBeInstanceOf(ModelLoadError);
        expect(pool.status()[0]).toMatchObject({ id: "a", state: "error", error: "out of memory" });
        engine.failing.delete("a");
        (await pool.acquire("a")).release();
        expect(pool.isLoaded("a")).toBe(true);
    });

    it("passes unknown ids through without remembering them", async () => {
        const pool = makePool(new FakeEngine());
        await expect(pool.acquire("nope")).rejects.toBeInstanceOf(ModelNotFoundError);
        expect(pool.status()).toEqual([]);
    });

    it("close() aborts a load in progress and unloads everything", async () => {
        const engine = new FakeEngine();
        const pool = makePool(engine, { max: 2 });
        (await pool.acquire("a")).release();
        engine.gated = true;
        const pending = pool.acquire("b");
        await new Promise((resolve) => setTimeout(resolve, 10));
        await pool.close();
        await expect(pending).rejects.toBeInstanceOf(ShuttingDownError);
        expect(engine.disposed).toEqual(["a"]);
        await expect(pool.acquire("a")).rejects.toBeInstanceOf(ShuttingDownError);
    });

    it("an aborted request stops waiting but the shared load continues", async () => {
        const engine = new FakeEngine();
        engine.gated = true;
        const pool = makePool(engine);
        const controller = new AbortController();
        const first = pool.acquire("a", controller.signal);
        const second = pool.acquire("a");
        await new Promise((resolve) => setTimeout(resolve, 10));
        controller.abort(new Error("client went away"));
        await expect(first).rejects.toThrow("client went away");
        engine.gates.get("a")?.();
        const lease = await second;
        expect(lease.model.id).toBe("a");
        lease.release();
    });
});
