import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { HttpError } from "./errors.js";

const OPEN_PATHS = [/^\/health(\/|$|\?)/, /^\/state\/version(\?|$)/, /^\/metrics(\?|$)/];

function digest(value: string): Buffer {
    return createHash("sha256").update(value).digest();
}

function presentedKey(request: FastifyRequest): string | undefined {
    const authorization = request.headers.authorization;
    if (typeof authorization === "string") {
        const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
        if (match !== null) return match[1];
    }
    const header = request.headers["x-api-key"];
    return typeof header === "string" && header !== "" ? header : undefined;
}

/** Requires one of `keys` on every route except probes, version and metrics. No keys: no authentication. */
export function registerApiKeyAuth(app: FastifyInstance, keys: readonly string[]): void {
    if (keys.length === 0) return;
    const digests = keys.map(digest);
    app.addHook("onRequest", async (request) => {
        if (OPEN_PATHS.some((pattern) => pattern.test(request.url))) return;
        const key = presentedKey(request);
        if (key === undefined) {
            throw new HttpError(401, "missing API key: send 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'", { code: "invalid_api_key" });
        }
        const presented = digest(key);
        if (!digests.some((candidate) => timingSafeEqual(candidate, presented))) {
            throw new HttpError(401, "invalid API key", { code: "invalid_api_key" });
        }
    });
}
