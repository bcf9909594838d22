import { freemem } from "node:os";
import type { GpuBackend, HardwareReport } from "../../hardware/types.js";
import { ModelLoadError } from "../engineErrors.js";
import type { EngineDescription, InferenceEngine, LoadedModel, ModelLoadSpec } from "../types.js";
import { LlamaServerModel } from "./LlamaServerModel.js";
import { LlamaServerProcess, type ProcessLog, type RestartPolicy } from "./LlamaServerProcess.js";
import { chooseParallel, readModelShape } from "./readModelShape.js";

export interface LlamaServerEngineOptions {
    /** Absolute path of llama-server. */
    binary: string;
    backend: GpuBackend;
    /** llama.cpp release it was built from. */
    release: string;
    log: ProcessLog;
    /** Free memory at start-up, for `parallel: 0`. Default: free RAM only. */
    hardware?: HardwareReport;
    restart?: RestartPolicy;
    /** Longest time a model may take to load. Default 10 min. */
    readyTimeoutMs?: number;
}

/**
 * The `llama-server` engine: one managed llama-server process per loaded model (built from the llama.cpp
 * source node-llama-cpp ships), `parallel` slots of `contextSize` tokens each. Our API, queue, auth,
 * metrics and request log stay in front; requests are translated to its OpenAI endpoints.
 */
export class LlamaServerEngine implements InferenceEngine {
    public readonly name = "llama-server";
    private readonly options: LlamaServerEngineOptions;
    private readonly models = new Set<LlamaServerModel>();

    public constructor(options: LlamaServerEngineOptions) {
        this.options = options;
    }

    public describe(): EngineDescription {
        return {
            name: this.name,
            version: this.options.release,
            backend: this.options.backend,
            details: { llamaCppRelease: this.options.release, binary: this.options.binary }
        };
    }

    public async loadModel(spec: ModelLoadSpec, signal?: AbortSignal): Promise<LoadedModel> {
        if (spec.path === undefined) throw new ModelLoadError(spec.id, "no model file");
        const parallel = spec.parallel > 0 ? spec.parallel : await this.autoParallel(spec);
        const gpuArgs = this.gpuLayerArgs(spec);
        const threadArgs = spec.threads !== undefined && spec.threads > 0 ? ["-t", String(spec.threads)] : [];
        const process = new LlamaServerProcess({
            modelId: spec.id,
            role: "generation",
            binary: this.options.binary,
            args: [
                "-m", spec.path,
                "-a", spec.id,
                "-c", String(spec.contextSize * parallel),
                "-np", String(parallel),
                "-fa", "auto",
                "--no-webui",
                ...threadArgs,
                ...gpuArgs
            ],
            log: this.options.log,
            restart: this.options.restart,
            readyTimeoutMs: this.options.readyTimeoutMs
        });
        try {
            await process.start(signal);
        } catch (error) {
            if (signal?.aborted) throw error;
            throw new ModelLoadError(spec.id, (error as Error).message, { cause: error });
        }
        try {
            const model: LlamaServerModel = await LlamaServerModel.create({
                id: spec.id,
                spec,
                process,
                log: this.options.log,
                parallel,
                embeddingProcess: async () =>
                    new LlamaServerProcess({
                        modelId: spec.id,
                        role: "embeddings",
                        binary: this.options.binary,
                        args: ["-m", spec.path!, "-a", spec.id, "--embeddings", "-c", String(spec.contextSize), "-np", "1",
                            "-b", String(spec.contextSize), "-ub", String(spec.contextSize), "--no-webui",
                            ...(await this.poolingArgs(spec.path!)), ...threadArgs, ...gpuArgs],
                        log: this.options.log,
                        restart: this.options.restart,
                        readyTimeoutMs: this.options.readyTimeoutMs
                    }),
                onDispose: () => this.models.delete(model)
            });
            this.models.add(model);
            return model;
        } catch (error) {
            await process.stop();
            throw new ModelLoadError(spec.id, (error as Error).message, { cause: error });
        }
    }

    public async dispose(): Promise<void> {
        await Promise.all([...this.models].map((model) => model.dispose()));
    }

    /** -ngl: a number as given, "max" as all layers, "auto" as llama.cpp's fit to free memory; nothing on the CPU. */
    private gpuLayerArgs(spec: ModelLoadSpec): string[] {
        const layers = spec.gpuLayers;
        if (typeof layers === "number") return ["-ngl", String(layers)];
        if (this.options.backend === "cpu") return [];
        return ["-ngl", layers === "max" ? "all" : "auto"];
    }

    /**
     * Generative models declare no pooling, which llama-server's OpenAI embeddings refuse; the in-process
     * engine then takes the last token's embedding, and so does this.
     */
    private async poolingArgs(path: string): Promise<string[]> {
        const shape = await readModelShape(path).catch(() => undefined);
        return shape?.poolingType === undefined || shape.poolingType === 0 ? ["--pooling", "last"] : [];
    }

    private async autoParallel(spec: ModelLoadSpec): Promise<number> {
        const shape = await readModelShape(spec.path!).catch(() => undefined);
        if (shape === undefined) return 1;
        const onGpu = this.options.backend !== "cpu" && spec.gpuLayers !== 0;
        const hardware = this.options.hardware;
        let freeBytes = freemem();
        if (onGpu && hardware !== undefined) {
            const devices = this.options.backend === "cuda" ? hardware.nvidia.devices : this.options.backend === "rocm" ? hardware.amd.devices : [];
            const free = devices.reduce((sum, device) => sum + (device.memoryFreeBytes ?? 0), 0);
            if (free > 0) freeBytes = free;
            else return 4; // free VRAM unknown (Vulkan): llama-server's own default
        }
        return chooseParallel(shape, spec.contextSize, { onGpu, freeBytes });
    }
}
