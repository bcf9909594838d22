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
        name: "model sources and lock verification state",
        sql: `
            -- Where each pulled file came from, so "models lock" can record it; sha256 ties it to those bytes.
            CREATE TABLE model_sources (
                path TEXT PRIMARY KEY,
                source TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                size INTEGER NOT NULL,
                pulled_at INTEGER NOT NULL
            );
            -- Fingerprint of the last lock that verified cleanly (lock bytes + each file's size/mtime/inode).
            CREATE TABLE lock_verifications (
                lock_path TEXT PRIMARY KEY,
                fingerprint TEXT NOT NULL,
                verified_at INTEGER NOT NULL
            );
        `
    }
];
