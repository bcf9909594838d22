import type { ServiceConfig } from "../config/loadConfig.js";
import { openDatabase, type SqliteDatabase } from "../db/openDatabase.js";

/**
 * Opens the service database for the hash cache and source records. Model commands still work without it
 * (every file is hashed, sources are not remembered), so a failure is a warning, not an error.
 */
export function openCacheDatabase(config: ServiceConfig): SqliteDatabase | undefined {
    try {
        return openDatabase(config.dbPath, { busyTimeoutMs: 5000 });
    } catch (error) {
        process.stderr.write(`mentator: warning: working without the database (${(error as Error).message})\n`);
        return undefined;
    }
}
