import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { DatabaseError } from "./DatabaseError.js";
import { migrations as defaultMigrations, type Migration } from "./migrations.js";

export type SqliteDatabase = BetterSqlite3.Database;

export interface OpenDatabaseOptions {
    /** How long to wait for another process's lock before failing. Default 5000 ms. */
    busyTimeoutMs?: number;
    /** Default: the project's migrations. */
    migrations?: readonly Migration[];
}

function explain(file: string, error: unknown): DatabaseError {
    const code = (error as { code?: string }).code ?? "";
    if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") {
        return new DatabaseError(file, "is not a SQLite database (or is corrupt); move it away or point dbFile elsewhere", { cause: error });
    }
    if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
        return new DatabaseError(file, "is locked by another process (is another mentator running on this data directory?)", { cause: error });
    }
    if (code.startsWith("SQLITE_CANTOPEN") || code.startsWith("SQLITE_READONLY") || code === "SQLITE_PERM") {
        return new DatabaseError(file, `cannot be opened for writing (${code}): check the directory's permissions`, { cause: error });
    }
    return new DatabaseError(file, (error as Error).message, { cause: error });
}

/** Opens (creating if needed) the service database in WAL mode and applies pending migrations. */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): SqliteDatabase {
    const migrations = options.migrations ?? defaultMigrations;
    let db: SqliteDatabase | undefined;
    try {
        mkdirSync(dirname(file), { recursive: true });
        db = new BetterSqlite3(file, { timeout: options.busyTimeoutMs ?? 5000 });
        db.pragma("journal_mode = WAL");
        db.pragma("synchronous = NORMAL");
        db.pragma("foreign_keys = ON");
        applyMigrations(db, migrations);
        return db;
    } catch (error) {
        db?.close();
        throw error instanceof DatabaseError ? error : explain(file, error);
    }
}

function applyMigrations(db: SqliteDatabase, migrations: readonly Migration[]): void {
    const current = db.pragma("user_version", { simple: true }) as number;
    const latest = migrations.reduce((max, migration) => Math.max(max, migration.version), 0);
    if (current > latest) {
        throw new DatabaseError(db.name, `schema version ${current} is newer than this program knows (${latest}); upgrade mentator`);
    }
    const pending = migrations.filter((migration) => migration.version > current).sort((a, b) => a.version - b.version);
    for (const migration of pending) {
        // Each migration and its version bump commit together, so a crash never leaves half a schema.
        db.transaction(() => {
            db.exec(migration.sql);
            db.pragma(`user_version = ${migration.version}`);
        }).immediate();
    }
}
