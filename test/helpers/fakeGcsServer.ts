import { createHash, createVerify, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local fake of the Google Cloud Storage JSON API, enough for @google-cloud/storage 7: uploads (multipart,
 * media, resumable), object metadata and media downloads, listing, bucket metadata, public object URLs and V4
 * signed URLs (the signature is verified with the service account's public key). Failures can be injected.
 */

export interface FakeGcsObject {
    bucket: string;
    name: string;
    data: Buffer;
    contentType: string;
    metadata: Record<string, string>;
    generation: number;
    predefinedAcl: string | undefined;
}

export type InjectedFailure = "503" | "429" | "403" | "reset" | "corrupt";

export interface RecordedRequest {
    method: string;
    path: string;
    query: URLSearchParams;
    /** `upload` for object uploads, else `other`. */
    kind: "upload" | "other";
    at: number;
}

export interface FakeGcsServer {
    url: string;
    objects: Map<string, FakeGcsObject>;
    requests: RecordedRequest[];
    /** Uploads fail in this order before one succeeds (`corrupt` stores a flipped byte). */
    failUploads(...failures: InjectedFailure[]): void;
    /** Drops injected failures not used yet. */
    clearFailures(): void;
    /** Any request (downloads, metadata) fails in this order first. */
    failAny(...failures: InjectedFailure[]): void;
    /** The public key that signed URLs must verify against (PEM). */
    setSigningKey(publicKeyPem: string, clientEmail: string): void;
    close(): Promise<void>;
}

/** CRC32C (Castagnoli), written independently of the client library so the two check each other. */
const CRC32C_TABLE = (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
        let c = n;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
        table[n] = c >>> 0;
    }
    return table;
})();

export function crc32cBase64(data: Buffer): string {
    let crc = 0xffffffff;
    for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
    const out = Buffer.alloc(4);
    out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
    return out.toString("base64");
}

function md5Base64(data: Buffer): string {
    return createHash("md5").update(data).digest("base64");
}

function rfc3986(value: string): string {
    return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
}

/** Splits a multipart/related body into its parts (headers + bytes). */
function parseMultipart(body: Buffer, boundary: string): Array<{ headers: Record<string, string>; data: Buffer }> {
    const delimiter = Buffer.from(`--${boundary}`);
    const parts: Array<{ headers: Record<string, string>; data: Buffer }> = [];
    let start = body.indexOf(delimiter);
    while (start !== -1) {
        const afterDelimiter = start + delimiter.length;
        if (body.subarray(afterDelimiter, afterDelimiter + 2).toString() === "--") break;
        const next = body.indexOf(delimiter, afterDelimiter);
        if (next === -1) break;
        const part = body.subarray(afterDelimiter + 2, next - 2); // drop the CRLF after the delimiter and before the next
        const headerEnd = part.indexOf("\r\n\r\n");
        const headers: Record<string, string> = {};
        for (const line of part.subarray(0, headerEnd).toString("utf8").split("\r\n")) {
            const colon = line.indexOf(":");
            if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        parts.push({ headers, data: part.subarray(headerEnd + 4) });
        start = next;
    }
    return parts;
}

export async function startFakeGcsServer(options: { buckets: string[] }): Promise<FakeGcsServer> {
    const buckets = new Set(options.buckets);
    const objects = new Map<string, FakeGcsObject>();
    const requests: RecordedRequest[] = [];
    const uploadFailures: InjectedFailure[] = [];
    const anyFailures: InjectedFailure[] = [];
    const resumable = new Map<string, { bucket: string; name: string; contentType: string; metadata: Record<string, string>; predefinedAcl: string | undefined }>();
    let signingKey: { pem: string; email: string } | undefined;
    let generation = 1000;
    let url = "";

    const resource = (object: FakeGcsObject): Record<string, unknown> => ({
        kind: "storage#object",
        id: `${object.bucket}/${object.name}/${object.generation}`,
        selfLink: `${url}/storage/v1/b/${object.bucket}/o/${encodeURIComponent(object.name)}`,
        name: object.name,
        bucket: object.bucket,
        generation: String(object.generation),
        metageneration: "1",
        contentType: object.contentType,
        size: String(object.data.length),
        md5Hash: md5Base64(object.data),
        crc32c: crc32cBase64(object.data),
        metadata: object.metadata,
        timeCreated: new Date().toISOString(),
        updated: new Date().toISOString()
    });

    const sendJson = (response: ServerResponse, status: number, body: unknown): void => {
        const text = JSON.stringify(body);
        response.writeHead(status, { "Content-Type": "application/json; charset=UTF-8", "Content-Length": Buffer.byteLength(text) });
        response.end(text);
    };
    const sendError = (response: ServerResponse, status: number, message: string): void =>
        sendJson(response, status, { error: { code: status, message, errors: [{ message, reason: status === 429 ? "rateLimitExceeded" : "error" }] } });

    /** Applies an injected failure; true when the request was answered (or dropped) by it. */
    const inject = (failure: InjectedFailure | undefined, request: IncomingMessage, response: ServerResponse): boolean => {
        switch (failure) {
            case undefined:
            case "corrupt":
                return false;
            case "reset":
                request.socket.destroy();
                return true;
            case "503":
                sendError(response, 503, "injected: service unavailable");
                return true;
            case "429":
                sendError(response, 429, "injected: rate limit exceeded");
                return true;
            case "403":
                sendError(response, 403, "injected: caller does not have storage.objects.create access");
                return true;
        }
    };

    const store = (bucket: string, name: string, data: Buffer, contentType: string, metadata: Record<string, string>, predefinedAcl: string | undefined, corrupt: boolean): FakeGcsObject => {
        const stored = Buffer.from(data);
        if (corrupt && stored.length > 0) stored[0] = stored[0]! ^ 0xff;
        const object: FakeGcsObject = { bucket, name, data: stored, contentType, metadata, generation: ++generation, predefinedAcl };
        objects.set(`${bucket}/${name}`, object);
        return object;
    };

    const verifySignature = (request: IncomingMessage, parsed: URL): string | undefined => {
        const query = parsed.searchParams;
        if (signingKey === undefined) return "no signing key configured";
        if (query.get("X-Goog-Algorithm") !== "GOOG4-RSA-SHA256") return "bad algorithm";
        const credential = query.get("X-Goog-Credential") ?? "";
        const [email, ...scopeParts] = credential.split("/");
        if (email !== signingKey.email) return `credential ${email ?? ""} is not ${signingKey.email}`;
        const date = query.get("X-Goog-Date") ?? "";
        const expires = Number(query.get("X-Goog-Expires"));
        const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
        if (match === null || !Number.isFinite(expires)) return "bad date or expiry";
        const signedAt = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6]));
        if (Date.now() > signedAt + expires * 1000) return "expired";
        const canonicalQuery = [...query.entries()]
            .filter(([key]) => key !== "X-Goog-Signature")
            .map(([key, value]) => [rfc3986(key), rfc3986(value)] as const)
            .sort((a, b) => (a[0] < b[0] ? -1 : 1))
            .map(([key, value]) => `${key}=${value}`)
            .join("&");
        const signedHeaders = query.get("X-Goog-SignedHeaders") ?? "";
        const host = (request.headers.host ?? "").replace(/:\d+$/, "");
        const canonicalHeaders = signedHeaders === "host" ? `host:${host}\n` : "";
        const canonicalRequest = [request.method, parsed.pathname, canonicalQuery, canonicalHeaders, signedHeaders, "UNSIGNED-PAYLOAD"].join("\n");
        const stringToSign = ["GOOG4-RSA-SHA256", date, scopeParts.join("/"), createHash("sha256").update(canonicalRequest).digest("hex")].join("\n");
        const ok = createVerify("RSA-SHA256").update(stringToSign).verify(signingKey.pem, Buffer.from(query.get("X-Goog-Signature") ?? "", "hex"));
        return ok ? undefined : "signature does not match";
    };

    const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
        const parsed = new URL(request.url ?? "/", "http://fake");
        const path = parsed.pathname;
        const query = parsed.searchParams;
        const method = request.method ?? "GET";
        const isUpload = path.startsWith("/upload/storage/v1/");
        requests.push({ method, path, query, kind: isUpload ? "upload" : "other", at: Date.now() });
        const body = await readBody(request);
        if (inject(anyFailures.shift(), request, response)) return;

        let match: RegExpExecArray | null;
        if ((match = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path)) !== null) {
            const bucket = decodeURIComponent(match[1]!);
            // The second leg of a resumable upload carries the data; injections apply to the leg that stores.
            const uploadType = query.get("uploadType");
            if (uploadType === "resumable" && method === "PUT") {
                const session = resumable.get(query.get("upload_id") ?? "");
                if (session === undefined) return sendError(response, 404, "no such upload session");
                const failure = uploadFailures.shift();
                if (inject(failure, request, response)) return;
                const object = store(session.bucket, session.name, body, session.contentType, session.metadata, session.predefinedAcl, failure === "corrupt");
                resumable.delete(query.get("upload_id") ?? "");
                return sendJson(response, 200, resource(object));
            }
            if (!buckets.has(bucket)) return sendError(response, 404, `bucket ${bucket} not found`);
            const predefinedAcl = query.get("predefinedAcl") ?? undefined;
            if (uploadType === "resumable") {
                const metadata = body.length > 0 ? (JSON.parse(body.toString("utf8")) as { name?: string; contentType?: string; metadata?: Record<string, string> }) : {};
                const id = randomUUID();
                resumable.set(id, {
                    bucket,
                    name: query.get("name") ?? metadata.name ?? "",
                    contentType: metadata.contentType ?? "application/octet-stream",
                    metadata: metadata.metadata ?? {},
                    predefinedAcl
                });
                response.writeHead(200, { Location: `${url}/upload/storage/v1/b/${bucket}/o?uploadType=resumable&upload_id=${id}` });
                response.end();
                return;
            }
            const failure = uploadFailures.shift();
            if (inject(failure, request, response)) return;
            if (uploadType === "media") {
                const name = query.get("name") ?? "";
                const object = store(bucket, name, body, request.headers["content-type"] ?? "application/octet-stream", {}, predefinedAcl, failure === "corrupt");
                return sendJson(response, 200, resource(object));
            }
            if (uploadType === "multipart") {
                const boundary = /boundary="?([^";]+)"?/.exec(request.headers["content-type"] ?? "")?.[1];
                if (boundary === undefined) return sendError(response, 400, "multipart upload without a boundary");
                const parts = parseMultipart(body, boundary);
                if (parts.length !== 2) return sendError(response, 400, `multipart upload with ${parts.length} parts`);
                const metadata = JSON.parse(parts[0]!.data.toString("utf8")) as { name?: string; contentType?: string; metadata?: Record<string, string> };
                const name = query.get("name") ?? metadata.name ?? "";
                if (name === "") return sendError(response, 400, "object name missing");
                const object = store(bucket, name, parts[1]!.data, metadata.contentType ?? parts[1]!.headers["content-type"] ?? "application/octet-stream", metadata.metadata ?? {}, predefinedAcl, failure === "corrupt");
                return sendJson(response, 200, resource(object));
            }
            return sendError(response, 400, `unsupported uploadType ${uploadType ?? "(none)"}`);
        }
        if ((match = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path)) !== null) {
            const key = `${decodeURIComponent(match[1]!)}/${decodeURIComponent(match[2]!)}`;
            const object = objects.get(key);
            if (object === undefined) return sendError(response, 404, `No such object: ${key}`);
            if (query.get("alt") === "media") {
                response.writeHead(200, {
                    "Content-Type": object.contentType,
                    "Content-Length": object.data.length,
                    "x-goog-hash": `crc32c=${crc32cBase64(object.data)},md5=${md5Base64(object.data)}`,
                    "x-goog-generation": String(object.generation),
                    "x-goog-stored-content-encoding": "identity"
                });
                response.end(object.data);
                return;
            }
            return sendJson(response, 200, resource(object));
        }
        if ((match = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path)) !== null && method === "GET") {
            const bucket = decodeURIComponent(match[1]!);
            if (!buckets.has(bucket)) return sendError(response, 404, `bucket ${bucket} not found`);
            const prefix = query.get("prefix") ?? "";
            const max = Number(query.get("maxResults") ?? "1000");
            const items = [...objects.values()].filter((object) => object.bucket === bucket && object.name.startsWith(prefix)).slice(0, max).map(resource);
            return sendJson(response, 200, { kind: "storage#objects", items });
        }
        if ((match = /^\/storage\/v1\/b\/([^/]+)$/.exec(path)) !== null) {
            const bucket = decodeURIComponent(match[1]!);
            if (!buckets.has(bucket)) return sendError(response, 404, `bucket ${bucket} not found`);
            return sendJson(response, 200, { kind: "storage#bucket", name: bucket, id: bucket });
        }
        // XML-API style object URLs: public links and signed URLs.
        if ((match = /^\/([^/]+)\/(.+)$/.exec(path)) !== null && method === "GET") {
            const key = `${decodeURIComponent(match[1]!)}/${decodeURIComponent(match[2]!)}`;
            const object = objects.get(key);
            if (query.has("X-Goog-Signature")) {
                const problem = verifySignature(request, parsed);
                if (problem !== undefined) {
                    response.writeHead(403, { "Content-Type": "text/plain" });
                    response.end(`SignatureDoesNotMatch: ${problem}`);
                    return;
                }
            } else if (object?.predefinedAcl !== "publicRead") {
                response.writeHead(403, { "Content-Type": "text/plain" });
                response.end("AccessDenied: object is not public");
                return;
            }
            if (object === undefined) {
                response.writeHead(404, { "Content-Type": "text/plain" });
                response.end("NoSuchKey");
                return;
            }
            response.writeHead(200, { "Content-Type": object.contentType, "Content-Length": object.data.length });
            response.end(object.data);
            return;
        }
        sendError(response, 404, `fake GCS: no route for ${method} ${path}`);
    };

    const server: Server = createServer((request, response) => {
        handle(request, response).catch((error: unknown) => {
            if (!response.headersSent) sendError(response, 500, (error as Error).message);
            else response.destroy();
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
        url,
        objects,
        requests,
        failUploads: (...failures) => uploadFailures.push(...failures),
        failAny: (...failures) => anyFailures.push(...failures),
        clearFailures: () => {
            uploadFailures.length = 0;
            anyFailures.length = 0;
        },
        setSigningKey: (pem, email) => {
            signingKey = { pem, email };
        },
        close: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            })
    };
}
