import { statSync } from "node:fs";
import { PassThrough } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { DownloadEvent } from "../../models/download/DownloadEvent.js";
import { pullModel } from "../../models/download/pullModel.js";
import { sourceSettingsFromConfig } from "../../models/download/sourceSettingsFromConfig.js";
import { deleteModelFile } from "../../models/deleteModelFile.js";
import { HashCache } from "../../models/HashCache.js";
import { ModelNotDeletableError } from "../../models/ModelNotDeletableError.js";
import { ModelNotFoundError } from "../../models/modelErrors.js";
import type { ModelEntry } from "../../models/ModelRegistry.js";
import { toModelId, toOllamaListEntry, toOllamaShow, type OllamaRunningEntry } from "../../ollama/ollamaModels.js";
import type { MentatorService } from "../../service/MentatorService.js";
import { resolvePullTarget, type PullTarget } from "../../service/resolvePullTarget.js";
import { packageInfo } from "../../util/packageInfo.js";
import type { AppContext } from "../AppContext.js";
import { toHttpError } from "../errors.js";
import { parseBody } from "../parseBody.js";

/** Ollama names the model `model` (older clients: `name`). */
const namedRequestSchema = z
    .object({ model: z.string().min(1).optional(), name: z.string().min(1).optional() })
    .refine((body) => body.model !== undefined || body.name !== undefined, { message: "model is required", path: ["model"] });
const pullRequestSchema = z.object({
    model: z.string().min(1).optional(),
    name: z.string().min(1).optional(),
    stream: z.boolean().optional(),
    insecure: z.boolean().optional()
});

/** Far future for models that never expire (pinned default model, keepAlive < 0). */
const NEVER = "9999-12-31T23:59:59.000Z";

function requestedName(body: { model?: string; name?: string }): string {
    return body.model ?? body.name ?? "";
}

/** Ollama's error body is `{"error": "..."}`; status codes come from the shared error table. */
function ollamaErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
    const httpError = toHttpError(error);
    if (httpError.statusCode >= 500) request.log.error({ err: error }, "request failed");
    void reply.status(httpError.statusCode).headers(httpError.headers).send({ error: httpError.message });
}

/** Ollama-compatible model management, so Ollama tools (e.g. the `ollama` npm client) can list, pull and delete. */
export function ollamaRoutes(app: FastifyInstance, context: AppContext): void {
    void app.register(async (scope) => {
        scope.setErrorHandler(ollamaErrorHandler);
        const { service } = context;
        const hashes = new HashCache(service.db);
        const cachedSha256 = (entry: ModelEntry): string | undefined => {
            if (entry.path === undefined) return undefined;
            try {
                return hashes.lookup(entry.path, statSync(entry.path));
            } catch {
                return undefined;
            }
        };
        const findPresent = async (name: string): Promise<ModelEntry> => {
            const entry = await service.registry.get(toModelId(name));
            if (entry.state === "missing") throw new ModelNotFoundError(entry.id, `model "${entry.id}" not found`);
            return entry;
        };

        scope.get("/api/version", async () => ({ version: packageInfo().version }));

        scope.get("/api/tags", async () => {
            await service.registry.refresh();
            const models = service.registry.list().filter((entry) => entry.state === "available");
            return { models: models.map((entry) => toOllamaListEntry(entry, cachedSha256(entry))) };
        });

        scope.get("/api/ps", async () => {
            const entries = new Map(service.registry.list().map((entry) => [entry.id, entry]));
            const defaultId = service.defaultModelId();
            const running: OllamaRunningEntry[] = [];
            for (const pooled of service.pool.status().filter((model) => model.state === "loaded")) {
                const entry = entries.get(pooled.id);
                if (entry === undefined) continue;
                const keepAliveMs = service.config.keepAliveMs;
                const expires = pooled.id === defaultId || keepAliveMs < 0 ? NEVER : new Date(pooled.lastUsedAt + keepAliveMs).toISOString();
                running.push({
                    ...toOllamaListEntry(entry, cachedSha256(entry)),
                    expires_at: expires,
                    size_vram: service.backendChoice.backend === "cpu" ? 0 : (entry.sizeBytes ?? 0)
                });
            }
            return { models: running };
        });

        scope.post("/api/show", async (request) => {
            const body = parseBody(namedRequestSchema, request.body);
            return toOllamaShow(await findPresent(requestedName(body)));
        });

        scope.delete("/api/delete", async (request, reply) => {
            const body = parseBody(namedRequestSchema, request.body);
            const entry = await findPresent(requestedName(body));
            if (entry.id === service.defaultModelId()) throw new ModelNotDeletableError(entry.id, "it is this service's default model");
            const pooled = service.pool.status().find((model) => model.id === entry.id);
            if (pooled !== undefined && pooled.activeLeases > 0) throw new ModelNotDeletableError(entry.id, "it is serving requests right now; retry when idle");
            await service.pool.unload(entry.id);
            const result = await deleteModelFile(service.registry, service.db, entry.id, service.config.lockPath);
            request.log.info({ model: result.id, path: result.path, stillInLock: result.stillInLock }, "model deleted");
            return reply.status(200).send();
        });

        scope.post("/api/pull", async (request, reply) => {
            const body = parseBody(pullRequestSchema, request.body);
            const name = requestedName(body);
            if (name === "") return reply.status(400).send({ error: "model is required" });
            const target = await resolvePullTarget(name, service.config, service.registry);
            if (body.stream === false) {
                await runPull(service, target, () => undefined, abortOnClose(reply));
                return { status: "success" };
            }
            const stream = new PassThrough();
            const write = (line: object): void => {
                stream.write(`${JSON.stringify(line)}\n`);
            };
            void reply.header("content-type", "application/x-ndjson").send(stream);
            runPull(service, target, write, abortOnClose(reply)).then(
                () => {
                    write({ status: "success" });
                    stream.end();
                },
                (error: unknown) => {
                    write({ error: toHttpError(error).message });
                    stream.end();
                }
            );
            return reply;
        });
    });
}

/** Aborts the pull when the client goes away before the answer is complete (the partial file stays for a resume). */
function abortOnClose(reply: FastifyReply): AbortSignal {
    const controller = new AbortController();
    reply.raw.once("close", () => {
        if (!reply.raw.writableFinished) controller.abort(new Error("client closed the connection"));
    });
    return controller.signal;
}

/** Runs one pull, reporting Ollama-style progress lines through `write`. */
async function runPull(service: MentatorService, target: PullTarget, write: (line: object) => void, signal: AbortSignal): Promise<void> {
    write({ status: "pulling manifest" });
    if (target.kind === "present") return;
    let digest = "";
    const onEvent = (event: DownloadEvent): void => {
        switch (event.type) {
            case "start":
                digest = event.expectedSha256 !== undefined ? `sha256:${event.expectedSha256}` : `file:${event.path.split("/").pop() ?? ""}`;
                write({ status: "downloading", digest, total: event.total ?? 0, completed: event.resumedFrom });
                break;
            case "progress":
                write({ status: "downloading", digest, total: event.total ?? event.completed, completed: event.completed });
                break;
            case "verifying":
                write({ status: "verifying sha256 digest" });
                break;
            case "retry":
            case "restart":
            case "done":
                break;
        }
    };
    const config = service.config;
    const result = await pullModel({
        uri: target.uri,
        file: target.file,
        expectedSha256: target.expectedSha256,
        expectedSize: target.expectedSize,
        modelsDir: config.modelsDir,
        settings: sourceSettingsFromConfig(config),
        db: service.db,
        offline: config.offline,
        signal,
        onEvent
    });
    if (result.status === "downloaded") write({ status: "writing manifest" });
    await service.registry.refresh();
}
