import { InvalidModelUriError } from "./InvalidModelUriError.js";

/** A parsed model source. `uri` is the text the user gave, kept for the lock file and messages. */
export type ModelUri =
    | { scheme: "http"; uri: string; url: URL }
    | {
          scheme: "hf";
          uri: string;
          owner: string;
          repo: string;
          revision: string;
          /** Path of the file inside the repository (`hf:owner/repo/dir/file.gguf`). */
          file?: string;
          /** Quantisation tag to look up in the repository's file list (`hf:owner/repo:Q8_0`). */
          quant?: string;
      }
    | { scheme: "s3"; uri: string; bucket: string; key: string }
    | { scheme: "gs"; uri: string; bucket: string; key: string };

const URI_PATTERN = /^(https?:\/\/|hf:|s3:\/\/|gs:\/\/)/i;
const NAME_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** True when the text looks like a source URI rather than a model id. */
export function isModelUri(text: string): boolean {
    return URI_PATTERN.test(text.trim());
}

/**
 * Parses `https://…`, `http://…`, `hf:owner/repo[@revision]/path/file.gguf`, `hf:owner/repo[@revision]:QUANT`,
 * `s3://bucket/key` and `gs://bucket/key`. Throws InvalidModelUriError naming what is wrong.
 */
export function parseModelUri(input: string): ModelUri {
    const uri = input.trim();
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(uri)) throw new InvalidModelUriError(uri, "contains control characters");
    const lower = uri.toLowerCase();
    if (lower.startsWith("http://") || lower.startsWith("https://")) {
        let url: URL;
        try {
            url = new URL(uri);
        } catch {
            throw new InvalidModelUriError(uri, "not a valid URL");
        }
        return { scheme: "http", uri, url };
    }
    if (lower.startsWith("hf:")) return parseHf(uri);
    if (lower.startsWith("s3://") || lower.startsWith("gs://")) {
        const scheme = lower.startsWith("s3://") ? "s3" : "gs";
        const rest = uri.slice(5);
        const slash = rest.indexOf("/");
        const bucket = slash < 0 ? rest : rest.slice(0, slash);
        const key = slash < 0 ? "" : rest.slice(slash + 1);
        if (bucket === "") throw new InvalidModelUriError(uri, "no bucket name");
        if (key === "" || key.endsWith("/")) throw new InvalidModelUriError(uri, "no object key (expected " + scheme + "://bucket/path/model.gguf)");
        return { scheme, uri, bucket, key };
    }
    throw new InvalidModelUriError(uri, "unsupported scheme; use https://, http://, hf:, s3:// or gs://");
}

function parseHf(uri: string): ModelUri {
    const body = uri.slice(3).replace(/^\/\//, "");
    const usage = "expected hf:owner/repo/file.gguf or hf:owner/repo:QUANT";
    const segments = body.split("/");
    const owner = segments[0] ?? "";
    let repoPart = segments[1] ?? "";
    const filePath = segments.slice(2).join("/");
    let quant: string | undefined;
    if (filePath === "") {
        const colon = repoPart.indexOf(":");
        if (colon >= 0) {
            quant = repoPart.slice(colon + 1);
            repoPart = repoPart.slice(0, colon);
        }
    }
    let revision = "main";
    const at = repoPart.indexOf("@");
    if (at >= 0) {
        revision = repoPart.slice(at + 1);
        repoPart = repoPart.slice(0, at);
    }
    if (!NAME_PART.test(owner) || !NAME_PART.test(repoPart)) throw new InvalidModelUriError(uri, usage);
    if (!/^[A-Za-z0-9._\/-]+$/.test(revision) || revision.includes("..")) throw new InvalidModelUriError(uri, "bad revision");
    if (quant !== undefined) {
        if (!/^[A-Za-z0-9_.-]+$/.test(quant)) throw new InvalidModelUriError(uri, "bad quantisation tag");
        return { scheme: "hf", uri, owner, repo: repoPart, revision, quant };
    }
    if (filePath === "") throw new InvalidModelUriError(uri, usage);
    if (filePath.split("/").some((part) => part === "" || part === "." || part === "..")) {
        throw new InvalidModelUriError(uri, "bad file path");
    }
    return { scheme: "hf", uri, owner, repo: repoPart, revision, file: filePath };
}

/** The file name a URI suggests (last path segment), or undefined when it names none. */
export function suggestedFileName(parsed: ModelUri): string | undefined {
    let last: string | undefined;
    switch (parsed.scheme) {
        case "http":
            last = parsed.url.pathname.split("/").pop();
            break;
        case "hf":
            last = parsed.file?.split("/").pop();
            break;
        case "s3":
        case "gs":
            last = parsed.key.split("/").pop();
            break;
    }
    if (last === undefined || last === "") return undefined;
    try {
        return decodeURIComponent(last);
    } catch {
        return last;
    }
}
