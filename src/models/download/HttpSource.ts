import { DownloadError } from "./DownloadError.js";
import { classifyNetworkError } from "./classifyNetworkError.js";
import type { ModelSource, SourceMetadata, SourceStream } from "./ModelSource.js";

export interface HttpSourceOptions {
    /** The URI to record (the user's `hf:` or https URI). */
    uri: string;
    /** The URL to fetch. */
    url: string;
    /** Extra request headers (Authorization for Hugging Face). Dropped when a redirect leaves the origin. */
    headers?: Record<string, string>;
    fileName?: string;
    known?: SourceMetadata;
    /** How long to wait for response headers. Default 30 s. */
    headersTimeoutMs?: number;
    /** Added to 401/403 messages (e.g. "set HF_TOKEN"). */
    authHint?: string;
}

const MAX_REDIRECTS = 10;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** An http(s) URL, fetched with Range/If-Range for resume; redirects are followed by hand to keep HF's digest headers. */
export class HttpSource implements ModelSource {
    public readonly uri: string;
    public readonly location: string;
    public readonly fileName: string | undefined;
    public readonly known: SourceMetadata;
    private readonly headers: Record<string, string>;
    private readonly headersTimeoutMs: number;
    private readonly authHint: string;

    public constructor(options: HttpSourceOptions) {
        this.uri = options.uri;
        this.location = options.url;
        this.fileName = options.fileName;
        this.known = options.known ?? {};
        this.headers = options.headers ?? {};
        this.headersTimeoutMs = options.headersTimeoutMs ?? 30_000;
        this.authHint = options.authHint ?? "";
    }

    public async open(offset: number, etag: string | undefined, signal: AbortSignal): Promise<SourceStream> {
        const headers: Record<string, string> = { ...this.headers, "accept-encoding": "identity" };
        if (offset > 0) {
            headers.range = `bytes=${offset}-`;
            // If-Range needs a strong validator; with a weak one (or none) the Content-Range check below must do.
            if (etag !== undefined && !etag.startsWith("W/")) headers["if-range"] = etag;
        }
        const { response, linked, controller } = await this.fetchFollowingRedirects(headers, signal);
        const status = response.status;
        if (status === 416 && offset > 0) {
            // The partial file is as long as (or longer than) the object: start over.
            controller.abort();
            return this.open(0, undefined, signal);
        }
        if (status !== 200 && status !== 206) {
            controller.abort();
            throw this.statusError(status, response.headers.get("retry-after"));
        }
        let start = 0;
        let size = parseLength(response.headers.get("content-length"));
        if (status === 206) {
            const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
            if (range === null || Number(range[1]) !== offset) {
                controller.abort();
                throw new DownloadError(this.location, `server answered a range request with an unexpected Content-Range "${response.headers.get("content-range") ?? ""}"`);
            }
            start = offset;
            size = range[3] === "*" ? undefined : Number(range[3]);
        }
        const body = response.body;
        if (body === null) {
            controller.abort();
            throw new DownloadError(this.location, "empty response body", { retryable: true });
        }
        const responseEtag = response.headers.get("etag") ?? undefined;
        const sha256 = linked.sha256 ?? this.known.sha256;
        return {
            offset: start,
            size: size ?? linked.size ?? this.known.size,
            etag: responseEtag,
            sha256,
            body: body as AsyncIterable<Uint8Array>,
            close: () => controller.abort()
        };
    }

    private async fetchFollowingRedirects(
        headers: Record<string, string>,
        signal: AbortSignal
    ): Promise<{ response: Response; linked: SourceMetadata; controller: AbortController }> {
        let url = new URL(this.location);
        const origin = url.origin;
        const linked: SourceMetadata = {};
        for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
            const controller = new AbortController();
            const onAbort = (): void => controller.abort(signal.reason);
            signal.addEventListener("abort", onAbort, { once: true });
            const timer = setTimeout(() => controller.abort(new DownloadError(url.href, `no response within ${this.headersTimeoutMs} ms`, { retryable: true })), this.headersTimeoutMs);
            const hopHeaders = url.origin === origin ? headers : withoutAuthorization(headers);
            let response: Response;
            try {
                response = await fetch(url, { headers: hopHeaders, redirect: "manual", signal: controller.signal });
            } catch (error) {
                signal.removeEventListener("abort", onAbort);
                if (signal.aborted) throw signal.reason ?? error;
                const reason = controller.signal.reason;
                if (reason instanceof DownloadError) throw reason;
                throw classifyNetworkError(url.href, error);
            } finally {
                clearTimeout(timer);
            }
            // Keep the listener until the body is done: aborting the caller's signal must stop the transfer.
            collectLinkedMetadata(response.headers, linked);
            const location = response.headers.get("location");
            if (response.status >= 300 && response.status < 400 && location !== null) {
                await response.body?.cancel().catch(() => undefined);
                signal.removeEventListener("abort", onAbort);
                url = new URL(location, url);
                continue;
            }
            return { response, linked, controller };
        }
        throw new DownloadError(this.location, `more than ${MAX_REDIRECTS} redirects`);
    }

    private statusError(status: number, retryAfter: string | null): DownloadError {
        if (status === 404 || status === 410) return new DownloadError(this.location, `not found (HTTP ${status})`, { statusCode: status });
        if (status === 401 || status === 403) {
            return new DownloadError(this.location, `access denied (HTTP ${status})${this.authHint !== "" ? `; ${this.authHint}` : ""}`, { statusCode: status });
        }
        const retryable = status === 408 || status === 429 || status >= 500;
        const wait = retryAfter !== null ? `, retry after ${retryAfter}` : "";
        return new DownloadError(this.location, `HTTP ${status}${wait}`, { statusCode: status, retryable });
    }
}

function parseLength(value: string | null): number | undefined {
    if (value === null || !/^\d+$/.test(value)) return undefined;
    return Number(value);
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== "authorization"));
}

/** Hugging Face puts the LFS sha256 and size on the redirect, not on the CDN's final answer. */
function collectLinkedMetadata(headers: Headers, into: SourceMetadata): void {
    const linkedEtag = headers.get("x-linked-etag")?.replace(/^W\//, "").replace(/"/g, "").toLowerCase();
    if (linkedEtag !== undefined && SHA256_HEX.test(linkedEtag)) into.sha256 = linkedEtag;
    const linkedSize = parseLength(headers.get("x-linked-size"));
    if (linkedSize !== undefined) into.size = linkedSize;
}
