/** Where a finished job's output goes: returned inline, as base64, or uploaded to object storage. */
export type OutputMode = "inline" | "base64" | "s3" | "gcs";

/** A job's serialized result: JSON for single requests, JSONL for batches. */
export interface JobDocument {
    jobId: string;
    /** The serialized bytes (UTF-8 JSON or JSONL). */
    body: string;
    format: "json" | "jsonl";
    /** Used for object keys `<prefix>/<yyyy>/<mm>/<dd>/<jobId>.<format>`. */
    createdAt: Date;
}

/** What goes into the job's `output` field for each mode. */
export type SinkResult =
    | { mode: "inline"; output: unknown }
    | { mode: "base64"; output: string }
    | { mode: "s3" | "gcs"; output: { uri: string; url?: string; bytes: number; format: "json" | "jsonl" } };

export type SinkHealth = "not_configured" | "ok" | "error";

export interface OutputSink {
    readonly mode: OutputMode;
    /** Stores (or encodes) the document; retries transient storage errors itself. */
    write(document: JobDocument, signal?: AbortSignal): Promise<SinkResult>;
    /** Cheap reachability check for /health. */
    health(): Promise<SinkHealth>;
}
