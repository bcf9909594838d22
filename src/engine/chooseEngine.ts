import type { EngineKind } from "../config/schema.js";
import type { LlamaServerLocation } from "./llamaServer/locateLlamaServer.js";

export type EngineName = "node-llama-cpp" | "llama-server" | "upstream";

export interface EngineChoice {
    engine: EngineName;
    /** What the config asked for (`upstream` for models with `upstream` set). */
    requested: EngineKind | "upstream";
    reason: string;
    /** Set when the request cannot be honoured (a forced llama-server without a binary). */
    error?: string;
}

export interface ChooseEngineOptions {
    /** `engine` of the model, else the global one. */
    requested: EngineKind;
    /** The model is served by an upstream URL. */
    upstream: boolean;
    llamaServer: LlamaServerLocation;
}

/**
 * Picks the engine for a model: upstream models always use `upstream`; `auto` takes llama-server when its
 * binary for the chosen backend is present, else node-llama-cpp; a forced engine is taken as asked, and a
 * forced llama-server without a binary is an error that says how to build one. Pure.
 */
export function chooseEngine(options: ChooseEngineOptions): EngineChoice {
    const { requested, llamaServer } = options;
    if (options.upstream) return { engine: "upstream", requested: "upstream", reason: "the model has an upstream URL" };
    if (requested === "node-llama-cpp") return { engine: "node-llama-cpp", requested, reason: "forced (engine=node-llama-cpp)" };
    if (requested === "llama-server") {
        return llamaServer.found
            ? { engine: "llama-server", requested, reason: `forced (engine=llama-server): ${llamaServer.reason}` }
            : { engine: "llama-server", requested, reason: "forced (engine=llama-server)", error: llamaServer.reason };
    }
    return llamaServer.found
        ? { engine: "llama-server", requested, reason: `auto: llama-server for ${llamaServer.backend} is present: ${llamaServer.reason}` }
        : { engine: "node-llama-cpp", requested, reason: `auto: node-llama-cpp (${llamaServer.reason})` };
}
