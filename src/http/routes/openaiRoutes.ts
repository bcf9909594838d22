import type { FastifyInstance } from "fastify";
import { ModelNotFoundError } from "../../models/modelErrors.js";
import { assertSafeModelId } from "../../models/resolveModelPath.js";
import { chatCompletionRequestSchema, completionRequestSchema, embeddingRequestSchema } from "../../openai/requestSchemas.js";
import { toChatGenerationRequest, toTextGenerationRequests } from "../../openai/toEngineRequest.js";
import { embeddingList } from "../../openai/openAiResponses.js";
import type { AppContext } from "../AppContext.js";
import { HttpError } from "../errors.js";
import { parseBody } from "../parseBody.js";
import { clientAbortSignal, respondWithGeneration } from "../respondWithGeneration.js";

/** OpenAI-compatible endpoints: thin handlers that validate, convert and hand over to the inference service. */
export function openaiRoutes(app: FastifyInstance, context: AppContext): void {
    const { service } = context;

    const resolveModelId = (requested: string | undefined): string => {
        const id = requested !== undefined && requested !== "" ? requested : service.defaultModelId();
        if (id === undefined) throw new HttpError(400, "model is required (no default model is configured)", { param: "model", code: "model_required" });
        assertSafeModelId(id);
        return id;
    };

    const modelObject = (id: string) => {
        const entry = service.registry.list().find((model) => model.id === id);
        const pooled = service.pool.status().find((model) => model.id === id);
        return {
            id,
            object: "model" as const,
            created: Math.floor((entry?.mtimeMs ?? service.startedAt) / 1000),
            owned_by: "mentator",
            loaded: pooled?.state === "loaded",
            state: pooled?.state ?? (entry?.state === "available" ? "unloaded" : (entry?.state ?? "unknown")),
            ...(entry?.summary !== undefined ? { meta: entry.summary } : {})
        };
    };

    app.get("/v1/models", async () => {
        await service.registry.refresh();
        return { object: "list", data: service.registry.list().map((entry) => modelObject(entry.id)) };
    });

    app.get<{ Params: { id: string } }>("/v1/models/:id", async (request) => {
        const entry = await service.registry.get(request.params.id);
        if (entry.state === "missing") throw new ModelNotFoundError(entry.id);
        return modelObject(entry.id);
    });

    app.post("/v1/chat/completions", async (request, reply) => {
        const body = parseBody(chatCompletionRequestSchema, request.body);
        return respondWithGeneration({
            inference: service.inference,
            request,
            reply,
            route: "/v1/chat/completions",
            modelId: resolveModelId(body.model),
            jobs: [{ kind: "chat", request: toChatGenerationRequest(body) }],
            stream: body.stream === true,
            includeUsage: body.stream_options?.include_usage === true
        });
    });

    app.post("/v1/completions", async (request, reply) => {
        const body = parseBody(completionRequestSchema, request.body);
        const requests = toTextGenerationRequests(body);
        return respondWithGeneration({
            inference: service.inference,
            request,
            reply,
            route: "/v1/completions",
            modelId: resolveModelId(body.model),
            jobs: requests.map((item) => ({ kind: "completion", request: item })),
            stream: body.stream === true,
            includeUsage: body.stream_options?.include_usage === true,
            prompts: requests.map((item) => item.prompt),
            echo: body.echo === true
        });
    });

    app.post("/v1/embeddings", async (request, reply) => {
        const body = parseBody(embeddingRequestSchema, request.body);
        const modelId = resolveModelId(body.model);
        const inputs = typeof body.input === "string" ? [body.input] : body.input;
        const result = await service.inference.embed(modelId, inputs, clientAbortSignal(reply), {
            requestId: String(request.id),
            route: "/v1/embeddings",
            stream: false
        });
        return embeddingList(modelId, result.embeddings, result.promptTokens, body.encoding_format ?? "float");
    });
}
