import type { ServiceConfig } from "../config/loadConfig.js";
import type { ModelOverride } from "../config/schema.js";
import { parseDuration } from "../config/parseDuration.js";
import type { ModelLoadPlan } from "../engine/ModelPool.js";
import type { InferenceEngine } from "../engine/types.js";
import { ModelNotFoundError, ModelUnavailableError } from "../models/modelErrors.js";
import type { ModelRegistry } from "../models/ModelRegistry.js";

/** Turns a model id into what the pool needs: the file, context and parallelism settings, and the engine. */
export async function planModelLoad(
    id: string,
    config: ServiceConfig,
    registry: ModelRegistry,
    engineFor: (id: string, override: ModelOverride | undefined) => InferenceEngine | Promise<InferenceEngine>
): Promise<ModelLoadPlan> {
    const entry = await registry.get(id);
    if (entry.state === "missing") throw new ModelNotFoundError(id, entry.error);
    if (entry.state === "error") throw new ModelUnavailableError(id, entry.error ?? "unreadable");
    const override = entry.override;
    return {
        engine: await engineFor(id, override),
        keepAliveMs: override?.keepAlive !== undefined ? parseDuration(override.keepAlive) : config.keepAliveMs,
        spec: {
            id,
            path: entry.path,
            contextSize: override?.contextSize ?? config.contextSize,
            parallel: override?.parallel ?? config.parallel,
            gpuLayers: override?.gpuLayers,
            threads: config.threads,
            upstream:
                override?.upstream !== undefined
                    ? { baseUrl: override.upstream, model: override.upstreamModel ?? id, apiKey: override.upstreamApiKey }
                    : undefined
        }
    };
}
