import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** How the fake server misbehaves for one path. */
export interface ServedFile {
    body: Buffer;
    /** Cut the connection after sending this many body bytes, for the first `cutRequests` requests. */
    cutAfterBytes?: number;
    cutRequests?: number;
    /** Send these bytes instead of `body` (same length): a server with wrong bytes. */
    corruptBody?: Buffer;
    /** Answer with this status and no body. */
    status?: number;
    /** Ignore Range headers (always 200 with the whole body). */
    ignoreRange?: boolean;
    /** Extra response headers (e.g. Hugging Face's x-linked-etag). */
    headers?: Record<string, string>;
    /** Bytes per second to throttle to (progress tests). */
    bytesPerSecond?: number;
    /** Answer 302 to this path instead (tests redirect handling). */
    redirectTo?: string;
}

export interface LoggedRequest {
    method: string;
    url: string;
    range?: string;
    ifRange?: string;
    authorization?: string;
}

export interface ModelHttpServer {
    url: string;
    files: Map<string, ServedFile>;
    requests: LoggedRequest[];
    /** JSON answers for other paths (e.g. the Hugging Face tree API). */
    json: Map<string, unknown>;
    close(): Promise<void>;
}

export function sha256Hex(data: Buffer): string {
    return createHash("sha256").update(data).digest("hex");
}

/** Deterministic pseudo-random bytes (fast, seeded) for download tests. */
export function randomBytesSeeded(length: number, seed = 1): Buffer {
    const out = Buffer.alloc(length);
    let state = seed >>> 0 || 1;
    for (let i = 0; i < length; i += 4) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        state >>>= 0;
        if (i + 4 <= length) out.writeUInt32LE(state, i);
        else for (let j = i; j < length; j++) out[j] = (state >>> ((j - i) * 8)) & 0xff;
    }
    return out;
}

/** A local HTTP file server with Range/If-Range support and switchable faults, listening on 127.0.0.1. */
export async function startModelHttpServer(): Promise<ModelHttpServer> {
    const files = new Map<string, ServedFile>();
    const json = new Map<string, unknown>();
    const requests: LoggedRequest[] = [];
    const served = new Map<string, number>();

    const handle = (request: IncomingMessage, response: ServerResponse): void => {
        const url = request.url ?? "/";
        requests.push({
            method: request.method ?? "GET",
            url,
            range: request.headers.range,
            ifRange: request.headers["if-range"] as string | undefined,
            authorization: request.headers.authorization
        });
        const path = url.split("?")[0]!;
        if (json.has(url) || json.has(path)) {
            response.writeHead(200, { "content-type": "application/json" });
            response.end(JSON.stringify(json.get(url) ?? json.get(path)));
            return;
        }
        const file = files.get(path);
        if (file === undefined) {
            response.writeHead(404, { "content-type": "text/plain" });
            response.end("not found");
            return;
        }
        if (file.redirectTo !== undefined) {
            response.writeHead(302, { location: file.redirectTo, ...file.headers });
            response.end();
            return;
        }
        if (file.status !== undefined) {
            response.writeHead(file.status, { "content-type": "text/plain" });
            response.end(`status ${file.status}`);
            return;
        }
        const count = (served.get(path) ?? 0) + 1;
        served.set(path, count);
        const body = file.corruptBody ?? file.body;
        const etag = `"${sha256Hex(file.body).slice(0, 16)}"`;
        let start = 0;
        let status = 200;
        const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? "");
        const ifRange = request.headers["if-range"];
        if (range !== null && file.ignoreRange !== true && (ifRange === undefined || ifRange === etag)) {
            start = Number(range[1]);
            if (start >= body.length) {
                response.writeHead(416, { "content-range": `bytes */${body.length}` });
                response.end();
                return;
            }
            status = 206;
        }
        const headers: Record<string, string> = {
            "content-type": "application/octet-stream",
            "content-length": String(body.length - start),
            "accept-ranges": "bytes",
            etag,
            ...file.headers
        };
        if (status === 206) headers["content-range"] = `bytes ${start}-${body.length - 1}/${body.length}`;
        response.writeHead(status, headers);
        const cut = file.cutAfterBytes !== undefined && count <= (file.cutRequests ?? 1) ? file.cutAfterBytes : undefined;
        const end = cut !== undefined ? Math.min(body.length, Math.max(start, cut)) : body.length;
        const chunkSize = 64 * 1024;
        let position = start;
        const pump = (): void => {
            if (response.destroyed) return;
            if (position >= end) {
                if (cut !== undefined && end < body.length) {
                    // Simulate a dropped connection mid-body.
                    setTimeout(() => request.socket.destroy(), 20);
                    return;
                }
                response.end();
                return;
            }
            const next = Math.min(end, position + chunkSize);
            const ok = response.write(body.subarray(position, next));
            position = next;
            const delay = file.bytesPerSecond !== undefined ? Math.ceil((chunkSize / file.bytesPerSecond) * 1000) : 0;
            if (delay > 0) setTimeout(pump, delay);
            else if (ok) setImmediate(pump);
            else response.once("drain", pump);
        };
        pump();
    };

    const server: Server = createServer(handle);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
        url: `http://127.0.0.1:${port}`,
        files,
        json,
        requests,
        close: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            })
    };
}
