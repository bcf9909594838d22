import { abortable } from "../util/abortable.js";
import { ModelLoadError, ShuttingDownError } from "./engineErrors.js";
import type { InferenceEngine, LoadedModel, ModelLoadSpec } from "./types.js";

export type PooledModelState = "loading" | "loaded" | "unloading" | "error";

/** How to load one model: produced by the service from the registry and config. */
export interface ModelLoadPlan {
    spec: ModelLoadSpec;
    engine: InferenceEngine;
    /** Idle time before unloading; -1 never, 0 as soon as idle. */
    keepAliveMs: number;
}

export interface PoolLogger {
    info(object: object, message: string): void;
    warn(object: object, message: string): void;
}

export interface ModelPoolOptions {
    /** Resolves an id to a load plan; throws ModelNotFoundError and similar for bad ids. */
    planLoad(id: string): Promise<ModelLoadPlan>;
    /** Most models resident at once; the least recently used idle one is unloaded to make room. */
    maxLoadedModels: number;
    log: PoolLogger;
    /** Called after each successful load with its duration. */
    onLoaded?(id: string, seconds: number): void;
}

export interface PooledModelStatus {
    id: string;
    state: PooledModelState;
    /** Requests holding the model right now. */
    activeLeases: number;
    loadedAt?: number;
    lastUsedAt: number;
    error?: string;
    engine?: string;
}

/** A hold on a loaded model: it is not unloaded until every lease is released. */
export interface ModelLease {
    readonly model: LoadedModel;
    release(): void;
    [Symbol.dispose](): void;
}

interface PoolEntry {
    id: string;
    state: PooledModelState;
    loading?: Promise<LoadedModel>;
    model?: LoadedModel;
    engineName?: string;
    leases: number;
    lastUsedAt: number;
    loadedAt?: number;
    keepAliveMs: number;
    idleTimer?: NodeJS.Timeout;
    error?: string;
}

/**
 * Loaded models with reference counts, keep-alive unloading and LRU eviction.
 * Concurrent first requests for a model share one load; a model with leases is never evicted.
 */
export class ModelPool {
    private readonly options: ModelPoolOptions;
    private readonly entries = new Map<string, PoolEntry>();
    private readonly pinned = new Set<string>();
    private readonly shutdown = new AbortController();
    private releaseWaiters: Array<() => void> = [];

    public constructor(options: ModelPoolOptions) {
        this.options = options;
    }

    /** Keeps a model resident regardless of keep-alive (the default model). */
    public pin(id: string): void {
        this.pinned.add(id);
        const entry = this.entries.get(id);
        if (entry?.idleTimer !== undefined) {
            clearTimeout(entry.idleTimer);
            entry.idleTimer = undefined;
        }
    }

    public isLoaded(id: string): boolean {
        return this.entries.get(id)?.state === "loaded";
    }

    public status(): PooledModelStatus[] {
        return [...this.entries.values()].map((entry) => ({
            id: entry.id,
            state: entry.state,
            activeLeases: entry.leases,
            loadedAt: entry.loadedAt,
            lastUsedAt: entry.lastUsedAt,
            error: entry.error,
            engine: entry.engineName
        }));
    }

    /** Loads the model if needed and holds it until the lease is released. */
    public async acquire(id: string, signal?: AbortSignal): Promise<ModelLease> {
        if (this.shutdown.signal.aborted) throw new ShuttingDownError();
        const model = await abortable(this.ensureLoaded(id), signal);
        const entry = this.entries.get(id);
        if (entry === undefined || entry.model !== model || entry.state !== "loaded") {
            // Unloaded between the load finishing and this continuation running: try again.
            return this.acquire(id, signal);
        }
        entry.leases++;
        entry.lastUsedAt = Date.now();
        if (entry.idleTimer !== undefined) {
            clearTimeout(entry.idleTimer);
            entry.idleTimer = undefined;
        }
        let released = false;
        const release = (): void => {
            if (released) return;
            released = true;
            this.release(entry);
        };
        return { model, release, [Symbol.dispose]: release };
    }

    /** Loads a model without holding it (start-up preload). */
    public async preload(id: string): Promise<void> {
        const lease = await this.acquire(id);
        lease.release();
    }

    public async unload(id: string): Promise<void> {
        const entry = this.entries.get(id);
        if (entry === undefined) return;
        if (entry.loading !== undefined) await entry.loading.catch(() => undefined);
        await this.unloadEntry(entry, "requested");
    }

    /** Stops loads in progress and unloads everything (in-flight work must have finished or been aborted). */
    public async close(): Promise<void> {
        this.shutdown.abort();
        for (const waiter of this.releaseWaiters.splice(0)) waiter();
        const entries = [...this.entries.values()];
        await Promise.all(entries.map((entry) => entry.loading?.catch(() => undefined)));
        await Promise.all(entries.map((entry) => this.unloadEntry(entry, "shutdown")));
    }

    private ensureLoaded(id: string): Promise<LoadedModel> {
        const existing = this.entries.get(id);
        if (existing?.state === "loaded" && existing.model !== undefined) return Promise.resolve(existing.model);
        if (existing?.state === "loading" && existing.loading !== undefined) return existing.loading;
        const entry: PoolEntry = existing ?? { id, state: "loading", leases: 0, lastUsedAt: Date.now(), keepAliveMs: -1 };
        entry.state = "loading";
        entry.error = undefined;
        this.entries.set(id, entry);
        entry.loading = this.load(entry).finally(() => {
            entry.loading = undefined;
        });
        return entry.loading;
    }

    private async load(entry: PoolEntry): Promise<LoadedModel> {
        let plan: ModelLoadPlan;
        try {
            plan = await this.options.planLoad(entry.id);
        } catch (error) {
            // Unknown or invalid ids are the caller's mistake, not a model state worth remembering.
            this.entries.delete(entry.id);
            throw error;
        }
        try {
            entry.keepAliveMs = plan.keepAliveMs;
            entry.engineName = plan.engine.name;
            await this.makeRoom(entry.id);
            const started = performance.now();
            this.options.log.info({ model: entry.id, engine: plan.engine.name }, "loading model");
            const model = await plan.engine.loadModel(plan.spec, this.shutdown.signal);
            if (this.shutdown.signal.aborted) {
                await model.dispose();
                throw new ShuttingDownError();
            }
            const seconds = (performance.now() - started) / 1000;
            entry.model = model;
            entry.state = "loaded";
            entry.loadedAt = Date.now();
            entry.lastUsedAt = Date.now();
            this.options.onLoaded?.(entry.id, seconds);
            this.options.log.info({ model: entry.id, seconds: Number(seconds.toFixed(3)), ...model.info }, "model loaded");
            this.scheduleIdleUnload(entry);
            return model;
        } catch (error) {
            const reason = error instanceof Error ? error.message : String(error);
            if (error instanceof ShuttingDownError || this.shutdown.signal.aborted) {
                this.entries.delete(entry.id);
                throw error instanceof ShuttingDownError ? error : new ShuttingDownError();
            }
            entry.state = "error";
            entry.error = reason;
            this.options.log.warn({ model: entry.id, err: reason }, "model load failed");
            throw error instanceof ModelLoadError ? error : new ModelLoadError(entry.id, reason, { cause: error });
        }
    }

    /** Unloads least-recently-used idle models until there is room for one more; waits if all are busy. */
    private async makeRoom(loadingId: string): Promise<void> {
        for (;;) {
            const resident = [...this.entries.values()].filter(
                (entry) => entry.id !== loadingId && (entry.state === "loaded" || entry.state === "loading" || entry.state === "unloading")
            );
            if (resident.length < this.options.maxLoadedModels) return;
            const idle = resident
                .filter((entry) => entry.state === "loaded" && entry.leases === 0)
                .sort((a, b) => a.lastUsedAt - b.lastUsedAt)[0];
            if (idle !== undefined) {
                await this.unloadEntry(idle, "evicted to make room");
                continue;
            }
            if (this.shutdown.signal.aborted) throw new ShuttingDownError();
            await new Promise<void>((resolve) => this.releaseWaiters.push(resolve));
        }
    }

    private release(entry: PoolEntry): void {
        entry.leases = Math.max(0, entry.leases - 1);
        entry.lastUsedAt = Date.now();
        if (entry.leases === 0) {
            for (const waiter of this.releaseWaiters.splice(0)) waiter();
            this.scheduleIdleUnload(entry);
        }
    }

    private scheduleIdleUnload(entry: PoolEntry): void {
        if (entry.leases > 0 || entry.state !== "loaded" || this.pinned.has(entry.id) || entry.keepAliveMs < 0) return;
        if (entry.idleTimer !== undefined) clearTimeout(entry.idleTimer);
        entry.idleTimer = setTimeout(() => {
            entry.idleTimer = undefined;
            if (entry.leases === 0) void this.unloadEntry(entry, "idle");
        }, entry.keepAliveMs);
        entry.idleTimer.unref();
    }

    private async unloadEntry(entry: PoolEntry, reason: string): Promise<void> {
        if (entry.idleTimer !== undefined) clearTimeout(entry.idleTimer);
        entry.idleTimer = undefined;
        const model = entry.model;
        if (entry.state !== "loaded" || model === undefined) {
            if (entry.state === "error") this.entries.delete(entry.id);
            return;
        }
        entry.state = "unloading";
        entry.model = undefined;
        try {
            await model.dispose();
            this.options.log.info({ model: entry.id, reason }, "model unloaded");
        } catch (error) {
            this.options.log.warn({ model: entry.id, err: (error as Error).message }, "model unload failed");
        } finally {
            if (this.entries.get(entry.id) === entry && entry.state === "unloading") this.entries.delete(entry.id);
            for (const waiter of this.releaseWaiters.splice(0)) waiter();
        }
    }
}
