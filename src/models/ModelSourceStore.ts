import type { SqliteDatabase } from "../db/openDatabase.js";

export interface RecordedSource {
    source: string;
    sha256: string;
    size: number;
    pulledAt: number;
}

/** Remembers which URI each pulled file came from (table `model_sources`), so `models lock` can write `source`. */
export class ModelSourceStore {
    private readonly db: SqliteDatabase | undefined;

    public constructor(db: SqliteDatabase | undefined) {
        this.db = db;
    }

    public record(path: string, source: string, sha256: string, size: number): void {
        this.db
            ?.prepare(
                `INSERT INTO model_sources (path, source, sha256, size, pulled_at) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT(path) DO UPDATE SET source = excluded.source, sha256 = excluded.sha256,
                   size = excluded.size, pulled_at = excluded.pulled_at`
            )
            .run(path, source, sha256, size, Date.now());
    }

    /** The recorded source, only if it was recorded for these exact bytes (a file replaced by hand has none). */
    public lookup(path: string, sha256?: string): RecordedSource | undefined {
        const row = this.db?.prepare("SELECT source, sha256, size, pulled_at FROM model_sources WHERE path = ?").get(path) as
            | { source: string; sha256: string; size: number; pulled_at: number }
            | undefined;
        if (row === undefined || (sha256 !== undefined && row.sha256 !== sha256)) return undefined;
        return { source: row.source, sha256: row.sha256, size: row.size, pulledAt: row.pulled_at };
    }

    /** The file most recently pulled from `source`, if any. */
    public findBySource(source: string): { path: string; sha256: string } | undefined {
        const row = this.db?.prepare("SELECT path, sha256 FROM model_sources WHERE source = ? ORDER BY pulled_at DESC LIMIT 1").get(source) as
            | { path: string; sha256: string }
            | undefined;
        return row;
    }

    public forget(path: string): void {
        this.db?.prepare("DELETE FROM model_sources WHERE path = ?").run(path);
    }
}
