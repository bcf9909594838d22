import type { LlamaContext, LlamaModel } from "node-llama-cpp";
import type { LoadedModel, LoadedModelInfo } from "../types.js";

/** A model loaded in node-llama-cpp with its shared multi-sequence context. */
export class NodeLlamaCppModel implements LoadedModel {
    public readonly id: string;
    public readonly info: LoadedModelInfo;
    private readonly model: LlamaModel;
    private readonly context: LlamaContext;
    private readonly onDispose: () => void;
    private disposed = false;

    public constructor(id: string, model: LlamaModel, context: LlamaContext, info: LoadedModelInfo, onDispose: () => void) {
        this.id = id;
        this.model = model;
        this.context = context;
        this.info = info;
        this.onDispose = onDispose;
    }

    public async dispose(): Promise<void> {
        if (this.disposed) return;
        this.disposed = true;
        this.onDispose();
        await this.context.dispose();
        await this.model.dispose();
    }
}
