import { freemem } from "node:os";
import type { Llama, LlamaContext, LlamaModel } from "node-llama-cpp";
import { ModelLoadError } from "../engineErrors.js";
import type { EngineDescription, InferenceEngine, LoadedModel, LoadedModelInfo, ModelLoadSpec } from "../types.js";
import { NodeLlamaCppModel } from "./NodeLlamaCppModel.js";

const NODE_LLAMA_CPP_VERSION = "3.21.1";

/** Parallel sequence counts tried, largest first, when the config leaves `parallel` at 0. */
const AUTO_PARALLEL_GPU = [16, 8, 4, 2, 1];
const AUTO_PARALLEL_CPU = [4, 2, 1];

/** The in-process engine: node-llama-cpp's native addon, one context with N sequences per model. */
export class NodeLlamaCppEngine implements InferenceEngine {
    public readonly name = "node-llama-cpp";
    private readonly llama: Llama;
    private readonly backend: string;
    private readonly models = new Set<NodeLlamaCppModel>();

    public constructor(llama: Llama, backend: string) {
        this.llama = llama;
        this.backend = backend;
    }

    public describe(): EngineDescription {
        return {
            name: this.name,
            version: NODE_LLAMA_CPP_VERSION,
            backend: this.backend,
            details: { llamaCppRelease: this.llama.llamaCppRelease.release, gpu: String(this.llama.gpu) }
        };
    }

    public async loadModel(spec: ModelLoadSpec, signal?: AbortSignal): Promise<LoadedModel> {
        if (spec.path === undefined) throw new ModelLoadError(spec.id, "no model file");
        let model: LlamaModel | undefined;
        let context: LlamaContext | undefined;
        try {
            model = await this.llama.loadModel({
                modelPath: spec.path,
                gpuLayers: spec.gpuLayers ?? "auto",
                loadSignal: signal
            });
            const parallel = spec.parallel > 0 ? spec.parallel : await this.chooseParallel(model, spec.contextSize);
            context = await model.createContext({
                contextSize: spec.contextSize,
                sequences: parallel,
                flashAttention: "auto",
                threads: spec.threads !== undefined && spec.threads > 0 ? spec.threads : undefined,
                createSignal: signal
            });
            const info: LoadedModelInfo = {
                contextSize: context.contextSize,
                parallel,
                trainedContextSize: model.trainContextSize,
                embeddingSize: model.embeddingVectorSize,
                hasChatTemplate: typeof model.fileInfo.metadata.tokenizer?.chat_template === "string"
            };
            const loaded = new NodeLlamaCppModel(spec.id, model, context, info, () => this.models.delete(loaded));
            this.models.add(loaded);
            return loaded;
        } catch (error) {
            await context?.dispose().catch(() => undefined);
            await model?.dispose().catch(() => undefined);
            if (signal?.aborted) throw error;
            throw new ModelLoadError(spec.id, describeLoadFailure(error), { cause: error });
        }
    }

    public async dispose(): Promise<void> {
        await Promise.all([...this.models].map((model) => model.dispose()));
        await this.llama.dispose();
    }

    private async chooseParallel(model: LlamaModel, contextSize: number): Promise<number> {
        const onGpu = model.gpuLayers > 0 && this.llama.gpu !== false;
        const budget = onGpu ? (await this.llama.getVramState()).free * 0.8 : freemem() * 0.5;
        for (const sequences of onGpu ? AUTO_PARALLEL_GPU : AUTO_PARALLEL_CPU) {
            const need = await model.fileInsights.estimateContextResourceRequirementsV2({
                contextSize,
                sequences,
                modelGpuLayers: model.gpuLayers,
                flashAttention: "auto"
            });
            if ((onGpu ? need.gpuVram : need.cpuRam) <= budget) return sequences;
        }
        return 1;
    }
}

function describeLoadFailure(error: unknown): string {
    const message = error instanceof Error ? error.message : String(error);
    if (/ENOENT|no such file/i.test(message)) return `model file not found (${message})`;
    if (/memory|VRAM|alloc/i.test(message)) return `not enough memory: ${message}`;
    return message;
}
