import { mkdirSync } from "node:fs";
import type { ServiceConfig } from "../config/loadConfig.js";
import type { SqliteDatabase } from "../db/openDatabase.js";
import { openDatabase } from "../db/openDatabase.js";
import { ModelPool } from "../engine/ModelPool.js";
import { Scheduler } from "../engine/Scheduler.js";
import { RequestLog } from "../db/RequestLog.js";
import { createJobDeps } from "../jobs/createJobDeps.js";
import { JobRunner } from "../jobs/JobRunner.js";
import { JobStore } from "../jobs/JobStore.js";
import { InferenceService } from "./InferenceService.js";
import type { EngineDescription } from "../engine/types.js";
import { EngineSet } from "../engine/EngineSet.js";
import { engineDirsOf, locateLlamaServer, readLlamaCppRelease } from "../engine/llamaServer/locateLlamaServer.js";
import { chooseBackend } from "../hardware/chooseBackend.js";
import { detectHardware } from "../hardware/detectHardware.js";
import type { HardwareProbes } from "../hardware/HardwareProbes.js";
import type { BackendChoice, HardwareReport } from "../hardware/types.js";
import { ServiceMetrics } from "../metrics/ServiceMetrics.js";
import { ModelRegistry } from "../models/ModelRegistry.js";
import { isModelUri } from "../models/download/parseModelUri.js";
import { ModelSupply } from "./ModelSupply.js";
import type { Logger } from "../util/logger.js";
import { packageInfo } from "../util/packageInfo.js";
import { planModelLoad } from "./planModelLoad.js";

export interface Readiness {
    ready: boolean;
    reason?: string;
}

export interface MentatorServiceOptions {
    config: ServiceConfig;
    log: Logger;
    hardwareProbes?: HardwareProbes;
}

type DefaultModelState =
    | { state: "none"; reason: string }
    | { state: "loading"; id: string }
    | { state: "loaded"; id: string }
    | { state: "failed"; id: string; reason: string };

/**
 * The long-lived parts of a running service (database, registry, engine, model pool, metrics) and their
 * lifecycle. HTTP routes and CLI commands use it; it knows nothing about HTTP.
 */
export class MentatorService {
    public readonly config: ServiceConfig;
    public readonly log: Logger;
    public readonly db: SqliteDatabase;
    public readonly registry: ModelRegistry;
    public readonly metrics: ServiceMetrics;
    public readonly hardware: HardwareReport;
    public readonly backendChoice: BackendChoice;
    /** The engines (node-llama-cpp, llama-server, upstream) and the choice per model. */
    public readonly engines: EngineSet;
    public readonly pool: ModelPool;
    /** Seeding, lock verification and default-model download that run before the default model loads. */
    public readonly supply: ModelSupply;
    public readonly scheduler: Scheduler;
    public readonly inference: InferenceService;
    /** RunPod-style jobs; `serve` starts the runner once the models are prepared. */
    public readonly jobs: JobRunner;
    public readonly startedAt = Date.now();
    private defaultModel: DefaultModelState = { state: "none", reason: "starting" };
    private stopping = false;
    private stopped = false;

    private constructor(parts: {
        config: ServiceConfig;
        log: Logger;
        db: SqliteDatabase;
        registry: ModelRegistry;
        metrics: ServiceMetrics;
        hardware: HardwareReport;
        backendChoice: BackendChoice;
        engines: EngineSet;
    }) {
        this.config = parts.config;
        this.log = parts.log;
        this.db = parts.db;
        this.registry = parts.registry;
        this.metrics = parts.metrics;
        this.hardware = parts.hardware;
        this.backendChoice = parts.backendChoice;
        this.engines = parts.engines;
        this.supply = new ModelSupply({ config: this.config, db: this.db, registry: this.registry, log: this.log });
        this.pool = new ModelPool({
            maxLoadedModels: this.config.limits.maxLoadedModels,
            log: this.log,
            planLoad: (id) => planModelLoad(id, this.config, this.registry, (modelId, override) => this.engines.engineFor(modelId, override)),
            onLoaded: (id, seconds) => {
                this.metrics.modelLoadSeconds.observe({ model: id }, seconds);
            }
        });
        this.scheduler = new Scheduler({
            pool: this.pool,
            maxQueue: this.config.limits.maxQueue,
            requestTimeoutMs: this.config.limits.requestTimeoutMs
        });
        this.inference = new InferenceService(this.scheduler, this.metrics, new RequestLog(this.db));
        this.jobs = new JobRunner({
            store: new JobStore(this.db),
            deps: createJobDeps(this),
            settings: this.config.jobs,
            log: this.log,
            isReady: () => this.readiness().ready
        });
        this.metrics.observeQueues(() => this.scheduler.stats());
        this.metrics.observeLoadedModels(() => this.pool.status().filter((model) => model.state === "loaded").length);
    }

    /**
     * Opens the database, scans models, detects hardware and starts the engine. Throws ConfigError-like
     * errors for the caller to report (DatabaseError, BackendUnavailableError).
     */
    public static async create(options: MentatorServiceOptions): Promise<MentatorService> {
        const { config, log } = options;
        const db = openDatabase(config.dbPath);
        ensureModelsDir(config.modelsDir, log);
        try {
            const registry = new ModelRegistry({ modelsDir: config.modelsDir, overrides: config.models, db });
            const models = await registry.refresh();
            for (const model of models.filter((entry) => entry.state !== "available")) {
                log.warn({ model: model.id, file: model.file, err: model.error }, "model listed with an error");
            }
            const hardware = await detectHardware(options.hardwareProbes);
            const backendChoice = chooseBackend(hardware, config.gpu);
            log.info({ requested: backendChoice.requested, backend: backendChoice.backend, reason: backendChoice.reason }, "backend chosen");
            const release = await readLlamaCppRelease().catch(() => "unknown");
            const llamaServer = await locateLlamaServer(backendChoice.backend, engineDirsOf(config), release);
            const engines = await EngineSet.create({
                requested: config.engine,
                hardware,
                llamaServer,
                log,
                // Imported only when this engine is used: node-llama-cpp alone adds ~300 ms and ~35 MB to a start.
                createNodeLlamaCpp: async () => {
                    const [{ loadLlamaRuntime }, { NodeLlamaCppEngine }] = await Promise.all([
                        import("../engine/nodeLlamaCpp/loadLlamaRuntime.js"),
                        import("../engine/nodeLlamaCpp/NodeLlamaCppEngine.js")
                    ]);
                    const runtime = await loadLlamaRuntime(backendChoice, log);
                    return new NodeLlamaCppEngine(runtime.llama, runtime.backend);
                }
            });
            log.info({ engine: engines.defaultChoice.engine, reason: engines.defaultChoice.reason }, "engine chosen");
            return new MentatorService({ config, log, db, registry, metrics: new ServiceMetrics(), hardware, backendChoice, engines });
        } catch (error) {
            db.close();
            throw error;
        }
    }

    /** Prepares models (seed, verify lock, download) and then loads the default model, all in the background. */
    public startDefaultModel(): void {
        void this.supply.run().then((outcome) => {
            if (this.stopping) return;
            if (!outcome.ok) {
                this.defaultModel = { state: "none", reason: outcome.reason };
                return;
            }
            this.loadDefaultModel(outcome.defaultModelId);
        });
    }

    /** Starts loading the default model; readiness follows its progress. */
    private loadDefaultModel(downloadedId: string | undefined): void {
        const id = this.resolveDefaultModelId(downloadedId);
        if (id === undefined) return;
        this.pool.pin(id);
        this.defaultModel = { state: "loading", id };
        this.pool.preload(id).then(
            () => {
                if (!this.stopping) this.defaultModel = { state: "loaded", id };
            },
            (error: unknown) => {
                if (this.stopping) return;
                const reason = (error as Error).message;
                this.metrics.modelLoadFailures.inc({ model: id });
                this.defaultModel = { state: "failed", id, reason };
                this.log.error({ model: id, err: reason }, "default model failed to load");
            }
        );
    }

    public defaultModelId(): string | undefined {
        return this.defaultModel.state === "none" ? undefined : this.defaultModel.id;
    }

    public readiness(): Readiness {
        if (this.stopping) return { ready: false, reason: "shutting down" };
        const supplyReason = this.supply.blockingReason();
        if (supplyReason !== undefined) return { ready: false, reason: supplyReason };
        const state = this.defaultModel;
        switch (state.state) {
            case "none":
                return { ready: false, reason: state.reason };
            case "loading":
                return { ready: false, reason: `default model "${state.id}" is loading` };
            case "failed":
                return { ready: false, reason: `default model "${state.id}" failed to load: ${state.reason}` };
            case "loaded":
                return this.pool.isLoaded(state.id)
                    ? { ready: true }
                    : { ready: false, reason: `default model "${state.id}" is not loaded (unloaded to make room)` };
        }
    }

    public get isStopping(): boolean {
        return this.stopping;
    }

    public version(): { name: string; version: string; engine: EngineDescription } {
        const pkg = packageInfo();
        return { name: pkg.name, version: pkg.version, engine: this.engines.describeDefault() };
    }

    /** Readiness turns 503 at once; in-flight work may still finish. */
    public beginShutdown(): void {
        this.stopping = true;
        // Running jobs go back to the queue before the scheduler starts refusing their requests.
        this.jobs.beginShutdown();
        this.supply.abort();
        this.scheduler.beginShutdown();
    }

    /** Releases models, the engine and the database. Safe to call twice. */
    public async stop(): Promise<void> {
        if (this.stopped) return;
        this.stopped = true;
        this.beginShutdown();
        await this.jobs.stop();
        await this.pool.close();
        await this.engines.dispose().catch((error: unknown) => this.log.warn({ err: (error as Error).message }, "engine dispose failed"));
        this.db.close();
    }

    private resolveDefaultModelId(downloadedId: string | undefined): string | undefined {
        // A URI default was pulled by the model supply; its file's id is what to load.
        const configured = downloadedId ?? (isModelUri(this.config.defaultModel) ? "" : this.config.defaultModel);
        const available = this.registry.list().filter((entry) => entry.state === "available");
        if (configured !== "") {
            const entry = this.registry.list().find((model) => model.id === configured);
            if (entry === undefined) {
                this.defaultModel = { state: "none", reason: `default model "${configured}" not found in ${this.config.modelsDir}` };
                return undefined;
            }
            return configured;
        }
        if (available.length === 0) {
            this.defaultModel = {
                state: "none",
                reason: `no models in ${this.config.modelsDir} (put a .gguf file there, run "mentator models pull URI", or set defaultModel to a URI)`
            };
            return undefined;
        }
        if (available.length > 1) {
            // With several models and no choice made, load the first by id so the service becomes ready.
            this.log.info({ model: available[0]!.id, candidates: available.map((entry) => entry.id) }, "no defaultModel set; using the first model");
        }
        return available[0]!.id;
    }
}

/** The models directory exists from the first start (before listening), so users can drop files into it. */
function ensureModelsDir(modelsDir: string, log: Logger): void {
    try {
        mkdirSync(modelsDir, { recursive: true });
    } catch (error) {
        log.warn({ dir: modelsDir, err: (error as Error).message }, "cannot create the models directory");
    }
}
