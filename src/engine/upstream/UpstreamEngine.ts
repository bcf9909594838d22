import { ModelLoadError } from "../engineErrors.js";
import { OpenAiCompatClient } from "../openAiCompat/OpenAiCompatClient.js";
import type { EngineDescription, InferenceEngine, LoadedModel, ModelLoadSpec } from "../types.js";
import { UpstreamModel } from "./UpstreamModel.js";

/** Concurrent requests to one upstream model when `parallel` is not configured. */
export const DEFAULT_UPSTREAM_PARALLEL = 16;
const PROBE_TIMEOUT_MS = 10_000;

/**
 * Models served by other OpenAI-compatible servers (vLLM, a remote llama-server, a hosted API), one base
 * URL per model (`models.<id>.upstream`, e.g. http://10.0.0.5:8000/v1). Loading checks that the URL
 * answers and accepts the API key; nothing is resident here.
 */
export class UpstreamEngine implements InferenceEngine {
    public readonly name = "upstream";
    private readonly models = new Set<UpstreamModel>();

    public describe(): EngineDescription {
        return { name: this.name, version: "openai-compatible", backend: "remote" };
    }

    public async loadModel(spec: ModelLoadSpec, signal?: AbortSignal): Promise<LoadedModel> {
        const upstream = spec.upstream;
        if (upstream === undefined) throw new ModelLoadError(spec.id, "no upstream URL configured (models.<id>.upstream)");
        const baseUrl = upstream.baseUrl.replace(/\/+$/, "");
        const headers: Record<string, string> = upstream.apiKey !== undefined && upstream.apiKey !== "" ? { authorization: `Bearer ${upstream.apiKey}` } : {};
        await probe(spec.id, baseUrl, headers, signal);
        const client = new OpenAiCompatClient({ modelId: spec.id, peer: `upstream ${baseUrl}`, headers });
        const model: UpstreamModel = new UpstreamModel({
            id: spec.id,
            info: {
                contextSize: spec.contextSize,
                parallel: spec.parallel > 0 ? spec.parallel : DEFAULT_UPSTREAM_PARALLEL,
                hasChatTemplate: true
            },
            baseUrl,
            upstreamModel: upstream.model,
            client,
            onDispose: () => this.models.delete(model)
        });
        this.models.add(model);
        return model;
    }

    public async dispose(): Promise<void> {
        await Promise.all([...this.models].map((model) => model.dispose()));
    }
}

/** GET <base>/models: any answer but 401/403 means reachable (some servers have no /models). */
async function probe(id: string, baseUrl: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<void> {
    const timeout = AbortSignal.timeout(PROBE_TIMEOUT_MS);
    let status: number;
    try {
        const response = await fetch(`${baseUrl}/models`, { headers, signal: signal !== undefined ? AbortSignal.any([signal, timeout]) : timeout });
        status = response.status;
        await response.arrayBuffer().catch(() => undefined);
    } catch (error) {
        if (signal?.aborted) throw error;
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        const why = timeout.aborted ? `no answer in ${PROBE_TIMEOUT_MS / 1000} s` : (cause?.code ?? cause?.message ?? (error as Error).message);
        throw new ModelLoadError(id, `upstream ${baseUrl} is not reachable (${why})`, { cause: error });
    }
    if (status === 401 || status === 403) {
        throw new ModelLoadError(id, `upstream ${baseUrl} refused our credentials (HTTP ${status}); check models.${id}.upstreamApiKey`);
    }
}
