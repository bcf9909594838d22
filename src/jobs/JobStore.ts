import type { SqliteDatabase } from "../db/openDatabase.js";
import type { OutputMode } from "../storage/OutputSink.js";
import type { JobInput, JobStatus } from "./types.js";

export const FINAL_STATUSES: readonly JobStatus[] = ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"];

export function isFinalStatus(status: JobStatus): boolean {
    return FINAL_STATUSES.includes(status);
}

export type WebhookState = "pending" | "delivered" | "failed";

/** A job as stored. Times are epoch milliseconds. */
export interface JobRecord {
    id: string;
    endpoint: string;
    status: JobStatus;
    input: JobInput;
    outputMode: OutputMode | undefined;
    /** What the output sink returned (COMPLETED only). */
    output: unknown;
    error: string | undefined;
    webhook: string | undefined;
    webhookState: WebhookState | undefined;
    executionTimeoutMs: number;
    ttlMs: number;
    /** Runs started (a run cut short by a crash counts; one stopped by a graceful shutdown does not). */
    attempts: number;
    /** Times /retry re-queued it. */
    retried: number;
    createdAt: number;
    /** When it entered the queue (creation or /retry; a recovered job keeps its place). */
    queuedAt: number;
    startedAt: number | undefined;
    completedAt: number | undefined;
    delayTimeMs: number | undefined;
    executionTimeMs: number | undefined;
}

export interface NewJob {
    id: string;
    endpoint: string;
    input: JobInput;
    outputMode?: OutputMode;
    webhook?: string;
    executionTimeoutMs: number;
    ttlMs: number;
}

export interface JobCounts {
    completed: number;
    failed: number;
    inProgress: number;
    inQueue: number;
    retried: number;
}

export interface RecoveryReport {
    requeued: string[];
    failed: string[];
}

export interface JobStoreOptions {
    /** Clock (tests). Default Date.now. */
    now?: () => number;
}

interface JobRow {
    id: string;
    endpoint: string;
    status: string;
    input_json: string;
    output_mode: string | null;
    output_json: string | null;
    error: string | null;
    webhook: string | null;
    webhook_state: string | null;
    execution_timeout_ms: number;
    ttl_ms: number;
    attempts: number;
    retried: number;
    created_at: number;
    queued_at: number;
    started_at: number | null;
    completed_at: number | null;
    delay_time_ms: number | null;
    execution_time_ms: number | null;
}

function toRecord(row: JobRow): JobRecord {
    return {
        id: row.id,
        endpoint: row.endpoint,
        status: row.status as JobStatus,
        input: JSON.parse(row.input_json) as JobInput,
        outputMode: (row.output_mode ?? undefined) as OutputMode | undefined,
        output: row.output_json === null ? undefined : (JSON.parse(row.output_json) as unknown),
        error: row.error ?? undefined,
        webhook: row.webhook ?? undefined,
        webhookState: (row.webhook_state ?? undefined) as WebhookState | undefined,
        executionTimeoutMs: row.execution_timeout_ms,
        ttlMs: row.ttl_ms,
        attempts: row.attempts,
        retried: row.retried,
        createdAt: row.created_at,
        queuedAt: row.queued_at,
        startedAt: row.started_at ?? undefined,
        completedAt: row.completed_at ?? undefined,
        delayTimeMs: row.delay_time_ms ?? undefined,
        executionTimeMs: row.execution_time_ms ?? undefined
    };
}

type Waiter = () => void;

/**
 * Jobs in SQLite: every state change is committed before it is reported, so a crash loses nothing. Status
 * changes only move forward (a finished job stays finished), and whoever waits on a job is woken on each change.
 */
export class JobStore {
    private readonly db: SqliteDatabase;
    private readonly now: () => number;
    private readonly waiters = new Map<string, Set<Waiter>>();

    public constructor(db: SqliteDatabase, options: JobStoreOptions = {}) {
        this.db = db;
        this.now = options.now ?? Date.now;
    }

    public create(job: NewJob): JobRecord {
        const now = this.now();
        this.db
            .prepare(
                `INSERT INTO jobs (id, endpoint, status, input_json, output_mode, webhook, execution_timeout_ms, ttl_ms, created_at, queued_at)
                 VALUES (?, ?, 'IN_QUEUE', ?, ?, ?, ?, ?, ?, ?)`
            )
            .run(job.id, job.endpoint, JSON.stringify(job.input), job.outputMode ?? null, job.webhook ?? null, job.executionTimeoutMs, job.ttlMs, now, now);
        return this.get(job.id)!;
    }

    public get(id: string): JobRecord | undefined {
        const row = this.db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as JobRow | undefined;
        return row === undefined ? undefined : toRecord(row);
    }

    /** Takes the oldest queued job: IN_PROGRESS, one more attempt, its earlier stream output dropped. */
    public claimNext(): JobRecord | undefined {
        const claimed = this.db
            .transaction(() => {
                const row = this.db.prepare("SELECT id, queued_at FROM jobs WHERE status = 'IN_QUEUE' ORDER BY queued_at, rowid LIMIT 1").get() as
                    | { id: string; queued_at: number }
                    | undefined;
                if (row === undefined) return undefined;
                const now = this.now();
                this.db
                    .prepare(
                        `UPDATE jobs SET status = 'IN_PROGRESS', attempts = attempts + 1, started_at = ?, delay_time_ms = ?,
                                completed_at = NULL, execution_time_ms = NULL, stream_read = 0
                         WHERE id = ?`
                    )
                    .run(now, Math.max(0, now - row.queued_at), row.id);
                this.db.prepare("DELETE FROM job_stream WHERE job_id = ?").run(row.id);
                return row.id;
            })
            .immediate();
        if (claimed === undefined) return undefined;
        this.changed(claimed);
        return this.get(claimed);
    }

    /** IN_PROGRESS -> COMPLETED with the sink's output. False when the job was cancelled meanwhile. */
    public complete(id: string, output: unknown): boolean {
        return this.finish(id, "COMPLETED", { output });
    }

    /** IN_PROGRESS -> FAILED or TIMED_OUT. False when the job was cancelled meanwhile. */
    public fail(id: string, status: "FAILED" | "TIMED_OUT", error: string): boolean {
        return this.finish(id, status, { error });
    }

    /** IN_QUEUE or IN_PROGRESS -> CANCELLED. Returns the status before (undefined: no such job). */
    public cancel(id: string, reason = "cancelled"): JobStatus | undefined {
        const before = this.get(id);
        if (before === undefined) return undefined;
        if (isFinalStatus(before.status)) return before.status;
        this.finish(id, "CANCELLED", { error: reason }, ["IN_QUEUE", "IN_PROGRESS"]);
        return before.status;
    }

    /**
     * IN_PROGRESS -> IN_QUEUE, keeping its place in the queue; `countAttempt: false` gives back the attempt
     * (graceful shutdown).
     */
    public requeue(id: string, countAttempt: boolean): boolean {
        const result = this.db
            .prepare(
                `UPDATE jobs SET status = 'IN_QUEUE', started_at = NULL, delay_time_ms = NULL, stream_read = 0,
                        attempts = CASE WHEN ? THEN attempts ELSE MAX(0, attempts - 1) END
                 WHERE id = ? AND status = 'IN_PROGRESS'`
            )
            .run(countAttempt ? 1 : 0, id);
        if (result.changes > 0) {
            this.db.prepare("DELETE FROM job_stream WHERE job_id = ?").run(id);
            this.changed(id);
        }
        return result.changes > 0;
    }

    /** FAILED or TIMED_OUT -> IN_QUEUE with a fresh attempt count. Returns the status before. */
    public retry(id: string): JobStatus | undefined {
        const before = this.get(id);
        if (before === undefined) return undefined;
        if (before.status !== "FAILED" && before.status !== "TIMED_OUT") return before.status;
        const now = this.now();
        this.db
            .transaction(() => {
                this.db
                    .prepare(
                        `UPDATE jobs SET status = 'IN_QUEUE', queued_at = ?, attempts = 0, retried = retried + 1, output_json = NULL, error = NULL,
                                started_at = NULL, completed_at = NULL, delay_time_ms = NULL, execution_time_ms = NULL, stream_read = 0,
                                webhook_state = NULL
                         WHERE id = ?`
                    )
                    .run(now, id);
                this.db.prepare("DELETE FROM job_stream WHERE job_id = ?").run(id);
            })
            .immediate();
        this.changed(id);
        return before.status;
    }

    /** Cancels every queued job of an endpoint; returns their ids. */
    public purgeQueue(endpoint: string): string[] {
        const ids = (this.db.prepare("SELECT id FROM jobs WHERE endpoint = ? AND status = 'IN_QUEUE'").all(endpoint) as Array<{ id: string }>).map((row) => row.id);
        const purged = ids.filter((id) => this.finish(id, "CANCELLED", { error: "removed from the queue by purge-queue" }, ["IN_QUEUE"]));
        return purged;
    }

    /**
     * After a crash: jobs left IN_PROGRESS go back to the queue, or FAILED with the reason once they have used
     * `maxAttempts` runs.
     */
    public recoverInterrupted(maxAttempts: number): RecoveryReport {
        const rows = this.db.prepare("SELECT id, attempts FROM jobs WHERE status = 'IN_PROGRESS'").all() as Array<{ id: string; attempts: number }>;
        const report: RecoveryReport = { requeued: [], failed: [] };
        for (const row of rows) {
            if (row.attempts >= maxAttempts) {
                const reason = `the service stopped while this job was running, ${row.attempts} time${row.attempts === 1 ? "" : "s"} (jobs.maxAttempts = ${maxAttempts}); not retried again`;
                if (this.finish(row.id, "FAILED", { error: reason })) report.failed.push(row.id);
            } else if (this.requeue(row.id, true)) {
                report.requeued.push(row.id);
            }
        }
        return report;
    }

    /** Deletes finished jobs whose TTL has passed since they finished; returns how many. */
    public purgeExpired(): number {
        const result = this.db.prepare("DELETE FROM jobs WHERE completed_at IS NOT NULL AND completed_at + ttl_ms <= ?").run(this.now());
        return result.changes;
    }

    public appendStream(id: string, chunk: unknown): void {
        this.db
            .prepare("INSERT INTO job_stream (job_id, seq, chunk_json) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM job_stream WHERE job_id = ?), ?)")
            .run(id, id, JSON.stringify(chunk));
        this.changed(id);
    }

    /** Partial outputs not handed out yet, marked as read (RunPod's /stream gives each chunk once). */
    public takeStream(id: string): unknown[] {
        return this.db
            .transaction(() => {
                const job = this.db.prepare("SELECT stream_read FROM jobs WHERE id = ?").get(id) as { stream_read: number } | undefined;
                if (job === undefined) return [];
                const rows = this.db.prepare("SELECT seq, chunk_json FROM job_stream WHERE job_id = ? AND seq > ? ORDER BY seq").all(id, job.stream_read) as Array<{
                    seq: number;
                    chunk_json: string;
                }>;
                if (rows.length > 0) this.db.prepare("UPDATE jobs SET stream_read = ? WHERE id = ?").run(rows[rows.length - 1]!.seq, id);
                return rows.map((row) => JSON.parse(row.chunk_json) as unknown);
            })
            .immediate();
    }

    /** Whether partial outputs are waiting to be taken. */
    public hasUnreadStream(id: string): boolean {
        const row = this.db
            .prepare("SELECT EXISTS (SELECT 1 FROM job_stream s JOIN jobs j ON j.id = s.job_id WHERE s.job_id = ? AND s.seq > j.stream_read) AS unread")
            .get(id) as { unread: number };
        return row.unread === 1;
    }

    public setWebhookState(id: string, state: WebhookState): void {
        this.db.prepare("UPDATE jobs SET webhook_state = ? WHERE id = ?").run(state, id);
    }

    /** Finished jobs whose webhook has not been delivered yet (a crash cut the delivery short). */
    public pendingWebhooks(): JobRecord[] {
        return (this.db.prepare("SELECT * FROM jobs WHERE webhook_state = 'pending' ORDER BY completed_at").all() as JobRow[]).map(toRecord);
    }

    public counts(endpoint: string): JobCounts {
        const rows = this.db.prepare("SELECT status, COUNT(*) AS n, SUM(retried) AS r FROM jobs WHERE endpoint = ? GROUP BY status").all(endpoint) as Array<{
            status: string;
            n: number;
            r: number;
        }>;
        const count = (status: JobStatus): number => rows.find((row) => row.status === status)?.n ?? 0;
        return {
            completed: count("COMPLETED"),
            failed: count("FAILED") + count("TIMED_OUT"),
            inProgress: count("IN_PROGRESS"),
            inQueue: count("IN_QUEUE"),
            retried: rows.reduce((sum, row) => sum + (row.r ?? 0), 0)
        };
    }

    public hasQueued(): boolean {
        return this.db.prepare("SELECT 1 FROM jobs WHERE status = 'IN_QUEUE' LIMIT 1").get() !== undefined;
    }

    /**
     * Resolves on the job's next change, after `timeoutMs`, or when `signal` aborts, whichever comes first.
     * Callers re-read the job and loop until what they wait for holds.
     */
    public waitForChange(id: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
        return new Promise((resolve) => {
            let set = this.waiters.get(id);
            if (set === undefined) {
                set = new Set();
                this.waiters.set(id, set);
            }
            const waiters = set;
            const done = (): void => {
                clearTimeout(timer);
                signal?.removeEventListener("abort", done);
                waiters.delete(done);
                if (waiters.size === 0 && this.waiters.get(id) === waiters) this.waiters.delete(id);
                resolve();
            };
            const timer = setTimeout(done, Math.max(0, timeoutMs));
            if (signal?.aborted === true) {
                done();
                return;
            }
            signal?.addEventListener("abort", done, { once: true });
            waiters.add(done);
        });
    }

    /** Wakes every waiter (shutdown). */
    public wakeAll(): void {
        for (const set of [...this.waiters.values()]) for (const waiter of [...set]) waiter();
    }

    private finish(id: string, status: JobStatus, result: { output?: unknown; error?: string }, from: readonly JobStatus[] = ["IN_PROGRESS"]): boolean {
        const now = this.now();
        const placeholders = from.map(() => "?").join(", ");
        const outcome = this.db
            .prepare(
                `UPDATE jobs SET status = ?, output_json = ?, error = ?, completed_at = ?,
                        execution_time_ms = CASE WHEN started_at IS NULL THEN NULL ELSE MAX(0, ? - started_at) END,
                        webhook_state = CASE WHEN webhook IS NULL THEN NULL ELSE 'pending' END
                 WHERE id = ? AND status IN (${placeholders})`
            )
            .run(status, result.output === undefined ? null : JSON.stringify(result.output), result.error ?? null, now, now, id, ...from);
        if (outcome.changes > 0) this.changed(id);
        return outcome.changes > 0;
    }

    private changed(id: string): void {
        const set = this.waiters.get(id);
        if (set === undefined) return;
        for (const waiter of [...set]) waiter();
    }
}
