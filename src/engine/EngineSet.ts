import type { EngineKind, ModelOverride } from "../config/schema.js";
import type { HardwareReport } from "../hardware/types.js";
import { chooseEngine, type EngineChoice, type EngineName } from "./chooseEngine.js";
import { ModelLoadError } from "./engineErrors.js";
import { LlamaServerEngine } from "./llamaServer/LlamaServerEngine.js";
import type { ProcessLog } from "./llamaServer/LlamaServerProcess.js";
import type { LlamaServerLocation } from "./llamaServer/locateLlamaServer.js";
import type { EngineDescription, InferenceEngine } from "./types.js";
import { UpstreamEngine } from "./upstream/UpstreamEngine.js";

export interface EngineSetOptions {
    /** `engine` from the config (the global setting). */
    requested: EngineKind;
    hardware: HardwareReport;
    /** The llama-server binary for the chosen backend, or why there is none. */
    llamaServer: LlamaServerLocation;
    log: ProcessLog;
    /** Loads node-llama-cpp's runtime and makes its engine (called at most once). */
    createNodeLlamaCpp: () => Promise<InferenceEngine>;
}

/** Thrown at start-up when `engine: llama-server` is configured and there is no binary for it. */
export class EngineSelectionError extends Error {
    public constructor(message: string) {
        super(message);
        this.name = "EngineSelectionError";
    }
}

/**
 * The engines of a running service and the choice per model: created on first use, so a service whose models
 * all run on llama-server never loads node-llama-cpp's native runtime. The global choice is made (and, for
 * node-llama-cpp, its runtime loaded) at start-up, so a broken setup fails fast.
 */
export class EngineSet {
    /** The choice for models without their own `engine` or `upstream`. */
    public readonly defaultChoice: EngineChoice;
    public readonly llamaServer: LlamaServerLocation;
    private readonly options: EngineSetOptions;
    private readonly engines = new Map<EngineName, Promise<InferenceEngine>>();
    private defaultEngine?: InferenceEngine;

    private constructor(options: EngineSetOptions) {
        this.options = options;
        this.llamaServer = options.llamaServer;
        this.defaultChoice = chooseEngine({ requested: options.requested, upstream: false, llamaServer: options.llamaServer });
    }

    /** Makes the set and starts the default engine; throws EngineSelectionError or the runtime's load error. */
    public static async create(options: EngineSetOptions): Promise<EngineSet> {
        const set = new EngineSet(options);
        if (set.defaultChoice.error !== undefined) throw new EngineSelectionError(`engine "llama-server" is configured but ${set.defaultChoice.error}`);
        set.defaultEngine = await set.engine(set.defaultChoice.engine);
        return set;
    }

    /** The engine choice for a model with these overrides. Pure. */
    public choiceFor(override: ModelOverride | undefined): EngineChoice {
        return chooseEngine({
            requested: override?.engine ?? this.options.requested,
            upstream: override?.upstream !== undefined,
            llamaServer: this.llamaServer
        });
    }

    /** The engine that loads a model; a forced llama-server without a binary is a ModelLoadError. */
    public async engineFor(id: string, override: ModelOverride | undefined): Promise<InferenceEngine> {
        const choice = this.choiceFor(override);
        if (choice.error !== undefined) throw new ModelLoadError(id, `engine "llama-server" is configured for it but ${choice.error}`);
        return this.engine(choice.engine);
    }

    /** What /state/version reports: the default engine (started at creation). */
    public describeDefault(): EngineDescription {
        if (this.defaultEngine === undefined) throw new Error("EngineSet.create() has not finished");
        return { ...this.defaultEngine.describe(), details: { ...this.defaultEngine.describe().details, choice: this.defaultChoice.reason } };
    }

    /** Engines started so far, for shutdown. */
    public async dispose(): Promise<void> {
        const started = await Promise.allSettled([...this.engines.values()]);
        await Promise.all(started.map((entry) => (entry.status === "fulfilled" ? entry.value.dispose() : undefined)));
    }

    private engine(name: EngineName): Promise<InferenceEngine> {
        let engine = this.engines.get(name);
        if (engine === undefined) {
            engine = this.make(name);
            this.engines.set(name, engine);
            // A failed start (node-llama-cpp's runtime) is retried by the next model that needs it.
            engine.catch(() => this.engines.delete(name));
        }
        return engine;
    }

    private async make(name: EngineName): Promise<InferenceEngine> {
        switch (name) {
            case "node-llama-cpp":
                return this.options.createNodeLlamaCpp();
            case "upstream":
                return new UpstreamEngine();
            case "llama-server": {
                const location = this.llamaServer;
                if (!location.found || location.path === undefined) throw new Error(location.reason);
                return new LlamaServerEngine({
                    binary: location.path,
                    backend: location.backend,
                    release: location.release,
                    log: this.options.log,
                    hardware: this.options.hardware
                });
            }
        }
    }
}
