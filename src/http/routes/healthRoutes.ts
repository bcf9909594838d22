import type { FastifyInstance } from "fastify";
import type { AppContext } from "../AppContext.js";

/** Probes and status: always open (no API key), cheap, never touch the engine. */
export function healthRoutes(app: FastifyInstance, context: AppContext): void {
    app.get("/state/version", async () => context.service.version());

    app.get("/health", async (_request, reply) => {
        const report = context.health();
        return reply.status(report.status === "unhealthy" ? 503 : 200).send(report);
    });

    app.get("/health/live", async () => ({ status: "alive" }));

    app.get("/health/ready", async (_request, reply) => {
        const readiness = context.service.readiness();
        return reply.status(readiness.ready ? 200 : 503).send(readiness.ready ? { status: "ready" } : { status: "not_ready", reason: readiness.reason });
    });

    app.get("/metrics", async (_request, reply) => {
        const rendered = await context.service.metrics.render();
        return reply.type(rendered.contentType).send(rendered.body);
    });
}
