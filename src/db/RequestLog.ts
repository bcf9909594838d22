import type { SqliteDatabase } from "./openDatabase.js";

export interface RequestLogEntry {
    requestId: string;
    route: string;
    model?: string;
    status: number;
    stream: boolean;
    promptTokens?: number;
    completionTokens?: number;
    queueMs?: number;
    ttftMs?: number;
    durationMs: number;
    finishReason?: string;
    error?: string;
}

/** One row per inference request, for auditing and offline analysis. */
export class RequestLog {
    private readonly insert;

    public constructor(db: SqliteDatabase) {
        this.insert = db.prepare(
            `INSERT INTO request_log (request_id, created_at, route, model, status, stream, prompt_tokens, completion_tokens,
                                      queue_ms, ttft_ms, duration_ms, finish_reason, error)
             VALUES (@requestId, @createdAt, @route, @model, @status, @stream, @promptTokens, @completionTokens,
                     @queueMs, @ttftMs, @durationMs, @finishReason, @error)`
        );
    }

    /** Never throws: losing a log row must not fail a request. */
    public record(entry: RequestLogEntry): void {
        try {
            this.insert.run({
                requestId: entry.requestId,
                createdAt: Date.now(),
                route: entry.route,
                model: entry.model ?? null,
                status: entry.status,
                stream: entry.stream ? 1 : 0,
                promptTokens: entry.promptTokens ?? null,
                completionTokens: entry.completionTokens ?? null,
                queueMs: entry.queueMs ?? null,
                ttftMs: entry.ttftMs ?? null,
                durationMs: entry.durationMs,
                finishReason: entry.finishReason ?? null,
                error: entry.error ?? null
            });
        } catch {
            // The database may be closing during shutdown.
        }
    }
}
