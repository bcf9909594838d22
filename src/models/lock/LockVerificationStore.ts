import type { SqliteDatabase } from "../../db/openDatabase.js";

/** The fingerprint of the last clean verification per lock file (table `lock_verifications`). */
export class LockVerificationStore {
    private readonly db: SqliteDatabase | undefined;

    public constructor(db: SqliteDatabase | undefined) {
        this.db = db;
    }

    public lookup(lockPath: string): { fingerprint: string; verifiedAt: number } | undefined {
        const row = this.db?.prepare("SELECT fingerprint, verified_at FROM lock_verifications WHERE lock_path = ?").get(lockPath) as
            | { fingerprint: string; verified_at: number }
            | undefined;
        return row === undefined ? undefined : { fingerprint: row.fingerprint, verifiedAt: row.verified_at };
    }

    public record(lockPath: string, fingerprint: string): void {
        this.db
            ?.prepare(
                `INSERT INTO lock_verifications (lock_path, fingerprint, verified_at) VALUES (?, ?, ?)
                 ON CONFLICT(lock_path) DO UPDATE SET fingerprint = excluded.fingerprint, verified_at = excluded.verified_at`
            )
            .run(lockPath, fingerprint, Date.now());
    }

    public forget(lockPath: string): void {
        this.db?.prepare("DELETE FROM lock_verifications WHERE lock_path = ?").run(lockPath);
    }
}
