import { DownloadError } from "./DownloadError.js";
import { HttpSource } from "./HttpSource.js";
import { InvalidModelUriError } from "./InvalidModelUriError.js";
import { classifyNetworkError } from "./classifyNetworkError.js";
import type { ModelUri } from "./parseModelUri.js";

export interface HfSettings {
    /** Base URL, e.g. https://huggingface.co (HF_ENDPOINT). */
    endpoint: string;
    /** Access token (HF_TOKEN); empty for public repositories. */
    token: string;
}

type HfUri = Extract<ModelUri, { scheme: "hf" }>;

interface TreeEntry {
    type?: string;
    path?: string;
    size?: number;
    lfs?: { oid?: string; size?: number };
}

const AUTH_HINT = "the repository may be gated or private: set HF_TOKEN";
const SPLIT_PART = /-\d{5}-of-\d{5}\.gguf$/i;

function encodePath(path: string): string {
    return path.split("/").map(encodeURIComponent).join("/");
}

/**
 * Turns `hf:owner/repo/file.gguf` into the repository's resolve URL, and `hf:owner/repo:QUANT` into the one GGUF
 * in the repository's file list whose name carries that quantisation tag (with its LFS sha256 and size).
 */
export async function resolveHfSource(parsed: HfUri, settings: HfSettings, signal: AbortSignal): Promise<HttpSource> {
    const endpoint = settings.endpoint.replace(/\/+$/, "");
    const headers: Record<string, string> = settings.token !== "" ? { authorization: `Bearer ${settings.token}` } : {};
    const repo = `${encodeURIComponent(parsed.owner)}/${encodeURIComponent(parsed.repo)}`;
    const revision = encodeURIComponent(parsed.revision);
    let file = parsed.file;
    let known: { sha256?: string; size?: number } = {};
    if (file === undefined) {
        const picked = await pickQuantFile(parsed, `${endpoint}/api/models/${repo}/tree/${revision}?recursive=true`, headers, signal);
        file = picked.path;
        known = { sha256: picked.sha256, size: picked.size };
    }
    return new HttpSource({
        uri: parsed.uri,
        url: `${endpoint}/${repo}/resolve/${revision}/${encodePath(file)}`,
        headers,
        fileName: file.split("/").pop(),
        known,
        authHint: AUTH_HINT
    });
}

async function pickQuantFile(
    parsed: HfUri,
    listUrl: string,
    headers: Record<string, string>,
    signal: AbortSignal
): Promise<{ path: string; sha256?: string; size?: number }> {
    let response: Response;
    try {
        response = await fetch(listUrl, { headers, signal });
    } catch (error) {
        if (signal.aborted) throw signal.reason ?? error;
        throw classifyNetworkError(listUrl, error);
    }
    if (response.status === 404) throw new DownloadError(listUrl, `Hugging Face repository ${parsed.owner}/${parsed.repo}@${parsed.revision} not found (HTTP 404)`, { statusCode: 404 });
    if (response.status === 401 || response.status === 403) throw new DownloadError(listUrl, `access denied (HTTP ${response.status}); ${AUTH_HINT}`, { statusCode: response.status });
    if (!response.ok) throw new DownloadError(listUrl, `HTTP ${response.status} listing the repository`, { statusCode: response.status, retryable: response.status >= 500 || response.status === 429 });
    const entries = (await response.json()) as unknown;
    if (!Array.isArray(entries)) throw new DownloadError(listUrl, "unexpected answer listing the repository (not a JSON array)");
    const quant = (parsed.quant ?? "").toLowerCase();
    const tag = new RegExp(`(^|[^a-z0-9])${quant.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}([^a-z0-9]|$)`);
    const ggufs = (entries as TreeEntry[]).filter((entry) => entry.type !== "directory" && typeof entry.path === "string" && entry.path.toLowerCase().endsWith(".gguf"));
    const matches = ggufs.filter((entry) => tag.test((entry.path ?? "").split("/").pop()!.toLowerCase().replace(/\.gguf$/, "")));
    const whole = matches.filter((entry) => !SPLIT_PART.test(entry.path ?? ""));
    if (whole.length === 0) {
        const reason = matches.length > 0 ? "only split GGUF files (name-0000N-of-0000M.gguf) match; pull one file by its path" : `no .gguf file matches "${parsed.quant ?? ""}"`;
        const names = ggufs.map((entry) => entry.path).slice(0, 20).join(", ");
        throw new InvalidModelUriError(parsed.uri, `${reason}${names !== "" ? `; files: ${names}` : ""}`);
    }
    if (whole.length > 1) {
        throw new InvalidModelUriError(parsed.uri, `"${parsed.quant ?? ""}" matches several files (${whole.map((entry) => entry.path).join(", ")}); name one: hf:${parsed.owner}/${parsed.repo}/FILE`);
    }
    const entry = whole[0]!;
    const oid = entry.lfs?.oid?.toLowerCase();
    return {
        path: entry.path!,
        sha256: oid !== undefined && /^[0-9a-f]{64}$/.test(oid) ? oid : undefined,
        size: entry.lfs?.size ?? entry.size
    };
}
