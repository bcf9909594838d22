import { statSync, type Stats } from "node:fs";
import type { SqliteDatabase } from "../db/openDatabase.js";
import { hashFile, type HashFileOptions } from "./hashFile.js";

export interface CachedHash {
    sha256: string;
    size: number;
    /** True when the hash came from the cache (the file was not read). */
    cached: boolean;
}

interface Row {
    size: number;
    mtime_ms: number;
    ctime_ms: number | null;
    inode: number;
    sha256: string | null;
}

/**
 * sha256 of model files, cached in `model_files` by path + size + mtime + ctime + inode so that verifying
 * unchanged files after a restart reads nothing (ctime catches content restored with an old mtime).
 * Without a database it always hashes.
 */
export class HashCache {
    private readonly db: SqliteDatabase | undefined;

    public constructor(db: SqliteDatabase | undefined) {
        this.db = db;
    }

    /** The cached hash when the file's identity (size, mtime, inode) is unchanged. */
    public lookup(path: string, stats: Stats): string | undefined {
        const row = this.db?.prepare("SELECT size, mtime_ms, ctime_ms, inode, sha256 FROM model_files WHERE path = ?").get(path) as Row | undefined;
        if (row === undefined || row.sha256 === null) return undefined;
        return sameIdentity(row, stats) ? row.sha256 : undefined;
    }

    /** Records a hash for the file as it is now; a row for an older version of the file is reset. */
    public store(path: string, stats: Stats, sha256: string): void {
        this.db
            ?.prepare(
                `INSERT INTO model_files (path, size, mtime_ms, ctime_ms, inode, sha256, scanned_at)
                 VALUES (@path, @size, @mtime, @ctime, @inode, @sha256, @now)
                 ON CONFLICT(path) DO UPDATE SET
                   summary_json = CASE WHEN model_files.size = @size AND model_files.mtime_ms = @mtime AND model_files.inode = @inode
                                       THEN model_files.summary_json ELSE NULL END,
                   error = CASE WHEN model_files.size = @size AND model_files.mtime_ms = @mtime AND model_files.inode = @inode
                                THEN model_files.error ELSE NULL END,
                   size = @size, mtime_ms = @mtime, ctime_ms = @ctime, inode = @inode, sha256 = @sha256, scanned_at = @now`
            )
            .run({ path, size: stats.size, mtime: Math.trunc(stats.mtimeMs), ctime: Math.trunc(stats.ctimeMs), inode: stats.ino, sha256, now: Date.now() });
    }

    /** Forgets a file (after deleting it). */
    public forget(path: string): void {
        this.db?.prepare("DELETE FROM model_files WHERE path = ?").run(path);
    }

    /** The file's sha256, from the cache when its identity is unchanged, else by reading it (and caching the result). */
    public async hash(path: string, options: HashFileOptions = {}): Promise<CachedHash> {
        const before = statSync(path);
        const cached = this.lookup(path, before);
        if (cached !== undefined) return { sha256: cached, size: before.size, cached: true };
        const sha256 = await hashFile(path, options);
        const after = statSync(path);
        // A file that changed while it was read gets no cache entry (its hash may mix two versions).
        const identity = { size: before.size, mtime_ms: Math.trunc(before.mtimeMs), ctime_ms: Math.trunc(before.ctimeMs), inode: before.ino };
        if (sameIdentity(identity, after)) this.store(path, after, sha256);
        return { sha256, size: after.size, cached: false };
    }
}

function sameIdentity(row: Pick<Row, "size" | "mtime_ms" | "ctime_ms" | "inode">, stats: Stats): boolean {
    return row.size === stats.size && row.mtime_ms === Math.trunc(stats.mtimeMs) && row.ctime_ms === Math.trunc(stats.ctimeMs) && row.inode === stats.ino;
}
