import type { JobDocument } from "./OutputSink.js";

/** Characters kept in the object name; anything else in a job id becomes `_` so an id cannot add path levels. */
const UNSAFE_ID_CHARACTERS = /[^A-Za-z0-9._-]/g;

/**
 * `<prefix>/<yyyy>/<mm>/<dd>/<jobId>.<json|jsonl>`, dated in UTC so every worker files a job under the same day.
 * An empty prefix gives `<yyyy>/…`; leading and trailing slashes of the prefix are dropped.
 */
export function buildObjectKey(prefix: string, document: Pick<JobDocument, "jobId" | "format" | "createdAt">): string {
    const date = document.createdAt;
    if (Number.isNaN(date.getTime())) throw new TypeError(`job ${document.jobId}: invalid createdAt date`);
    const id = document.jobId.replace(UNSAFE_ID_CHARACTERS, "_");
    if (id === "" || /^\.+$/.test(id)) throw new TypeError(`job id ${JSON.stringify(document.jobId)} cannot name an object`);
    const yyyy = String(date.getUTCFullYear()).padStart(4, "0");
    const mm = String(date.getUTCMonth() + 1).padStart(2, "0");
    const dd = String(date.getUTCDate()).padStart(2, "0");
    const cleanPrefix = prefix.replace(/^\/+|\/+$/g, "");
    return [...(cleanPrefix === "" ? [] : [cleanPrefix]), yyyy, mm, dd, `${id}.${document.format}`].join("/");
}

/** MIME type of a job document. */
export function documentContentType(format: JobDocument["format"]): string {
    return format === "jsonl" ? "application/x-ndjson" : "application/json";
}
