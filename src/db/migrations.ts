/** A schema change, applied once in version order; the database's user_version records the last one. */
export interface Migration {
    version: number;
    name: string;
    sql: string;
}

export const migrations: readonly Migration[] = [
    {
        version: 1,
        name: "model registry cache and request log",
        sql: `
            CREATE TABLE model_files (
                path TEXT PRIMARY KEY,
                size INTEGER NOT NULL,
                mtime_ms INTEGER NOT NULL,
                inode INTEGER NOT NULL,
                sha256 TEXT,
                summary_json TEXT,
                error TEXT,
                scanned_at INTEGER NOT NULL
            );
            CREATE TABLE request_log (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                request_id TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                route TEXT NOT NULL,
                model TEXT,
                status INTEGER NOT NULL,
                stream INTEGER NOT NULL DEFAULT 0,
                prompt_tokens INTEGER,
                completion_tokens INTEGER,
                queue_ms REAL,
                ttft_ms REAL,
                duration_ms REAL,
                finish_reason TEXT,
                error TEXT
            );
            CREATE INDEX request_log_created_at ON request_log (created_at);
        `
    },
    {
        version: 2,
        name: "model sources, lock verification state, ctime in the hash cache",
        sql: `
            -- ctime cannot be set back by users (unlike mtime with touch -r), so the hash cache also keys on it.
            ALTER TABLE model_files ADD COLUMN ctime_ms INTEGER;
            -- Where each pulled file came from, so "models lock" can record it; sha256 ties it to those bytes.
            CREATE TABLE model_sources (
                path TEXT PRIMARY KEY,
                source TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                size INTEGER NOT NULL,
                pulled_at INTEGER NOT NULL
            );
            -- Fingerprint of the last lock that verified cleanly (lock bytes + each file's size/mtime/ctime/inode).
            CREATE TABLE lock_verifications (
                lock_path TEXT PRIMARY KEY,
                fingerprint TEXT NOT NULL,
                verified_at INTEGER NOT NULL
            );
        `
    },
    {
        version: 3,
        name: "jobs and their streamed outputs",
        sql: `
            -- RunPod-style jobs. Times are epoch ms; output_json holds what the output sink returned.
            CREATE TABLE jobs (
                id TEXT PRIMARY KEY,
                endpoint TEXT NOT NULL,
                status TEXT NOT NULL,
                input_json TEXT NOT NULL,
                output_mode TEXT,
                output_json TEXT,
                error TEXT,
                webhook TEXT,
                webhook_state TEXT,
                execution_timeout_ms INTEGER NOT NULL,
                ttl_ms INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                retried INTEGER NOT NULL DEFAULT 0,
                created_at INTEGER NOT NULL,
                queued_at INTEGER NOT NULL,
                started_at INTEGER,
                completed_at INTEGER,
                delay_time_ms INTEGER,
                execution_time_ms INTEGER,
                stream_read INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX jobs_queue ON jobs (status, queued_at);
            CREATE INDEX jobs_endpoint ON jobs (endpoint, status);
            CREATE INDEX jobs_completed_at ON jobs (completed_at);
            -- Partial outputs of stream jobs, in order; /stream hands out those after jobs.stream_read.
            CREATE TABLE job_stream (
                job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                chunk_json TEXT NOT NULL,
                PRIMARY KEY (job_id, seq)
            );
        `
    }
];
