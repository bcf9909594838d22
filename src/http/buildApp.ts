import { randomUUID } from "node:crypto";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "../util/logger.js";
import type { AppContext } from "./AppContext.js";
import { handleError, HttpError, openAiErrorBody } from "./errors.js";
import { registerApiKeyAuth } from "./apiKeyAuth.js";
import { healthRoutes } from "./routes/healthRoutes.js";
import { jobRoutes } from "./routes/jobRoutes.js";
import { ollamaRoutes } from "./routes/ollamaRoutes.js";
import { openaiRoutes } from "./routes/openaiRoutes.js";

export interface BuildAppOptions {
    context: AppContext;
    log: Logger;
    maxBodyBytes: number;
}

/** Builds the Fastify app (routes, error handling); never listens. */
export function buildApp(options: BuildAppOptions): FastifyInstance {
    const app = Fastify({
        loggerInstance: options.log as FastifyBaseLogger,
        bodyLimit: options.maxBodyBytes,
        genReqId: (request) => {
            const given = request.headers["x-request-id"];
            return typeof given === "string" && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
        },
        return503OnClosing: true,
        forceCloseConnections: "idle"
    });
    app.addHook("onSend", async (request, reply) => {
        reply.header("x-request-id", request.id);
    });
    app.setErrorHandler(handleError);
    app.setNotFoundHandler((request, reply) => {
        const error = new HttpError(404, `no route for ${request.method} ${request.url}`, { code: "not_found" });
        void reply.status(404).send(openAiErrorBody(error));
    });
    registerApiKeyAuth(app, options.context.service.config.apiKeys);
    healthRoutes(app, options.context);
    openaiRoutes(app, options.context);
    jobRoutes(app, options.context);
    ollamaRoutes(app, options.context);
    return app;
}
