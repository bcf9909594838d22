import http, { type IncomingHttpHeaders } from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";

export interface JsonPostResponse {
    status: number;
    headers: IncomingHttpHeaders;
    /** The body as it arrives (an SSE stream is read from here). */
    body: Readable;
    /** Reads the whole body as text. */
    text(): Promise<string>;
}

export interface PostJsonOptions {
    headers?: Record<string, string>;
    /** Aborting destroys the connection; the server sees the client go away and stops generating. */
    signal: AbortSignal;
    /** Connection pool; default: a keep-alive agent per protocol. */
    agent?: http.Agent;
}

const keepAliveHttp = new http.Agent({ keepAlive: true, maxSockets: 1024 });
const keepAliveHttps = new https.Agent({ keepAlive: true, maxSockets: 1024 });

/**
 * POSTs JSON and resolves once the status line and headers are in. Plain node:http rather than fetch: no
 * headers/body timeouts (a long prompt on a CPU may take minutes before its first byte) and no extra copies
 * on the per-token stream. Network failures reject with the socket error (its `code`, e.g. ECONNREFUSED).
 */
export function postJson(url: string, payload: unknown, options: PostJsonOptions): Promise<JsonPostResponse> {
    const target = new URL(url);
    const secure = target.protocol === "https:";
    const data = Buffer.from(JSON.stringify(payload));
    return new Promise((resolve, reject) => {
        if (options.signal.aborted) return reject(options.signal.reason as Error);
        const request = (secure ? https : http).request(
            target,
            {
                method: "POST",
                agent: options.agent ?? (secure ? keepAliveHttps : keepAliveHttp),
                headers: { "content-type": "application/json", "content-length": String(data.length), accept: "application/json, text/event-stream", ...options.headers }
            },
            (response) => {
                resolve({
                    status: response.statusCode ?? 0,
                    headers: response.headers,
                    body: response,
                    text: async () => {
                        const chunks: Buffer[] = [];
                        for await (const chunk of response) chunks.push(chunk as Buffer);
                        return Buffer.concat(chunks).toString("utf8");
                    }
                });
            }
        );
        const onAbort = (): void => {
            request.destroy(options.signal.reason as Error);
        };
        options.signal.addEventListener("abort", onAbort, { once: true });
        request.once("close", () => options.signal.removeEventListener("abort", onAbort));
        request.once("error", reject);
        request.end(data);
    });
}
