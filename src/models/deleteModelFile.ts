import { existsSync, rmSync } from "node:fs";
import type { SqliteDatabase } from "../db/openDatabase.js";
import { HashCache } from "./HashCache.js";
import { readLockFile } from "./lock/readLockFile.js";
import { ModelNotDeletableError } from "./ModelNotDeletableError.js";
import { ModelNotFoundError } from "./modelErrors.js";
import type { ModelRegistry } from "./ModelRegistry.js";
import { ModelSourceStore } from "./ModelSourceStore.js";

export interface DeleteModelResult {
    id: string;
    file: string;
    path: string;
    /** The lock still lists this file (verify will fail until `models lock` is run again). */
    stillInLock: boolean;
}

/** Deletes a model's file from the models directory and forgets its cached hash and source. */
export async function deleteModelFile(registry: ModelRegistry, db: SqliteDatabase | undefined, id: string, lockPath?: string): Promise<DeleteModelResult> {
    const entry = await registry.get(id);
    if (entry.file === undefined || entry.path === undefined) throw new ModelNotDeletableError(id, "it is served by an upstream server and has no local file");
    if (entry.state === "missing") throw new ModelNotFoundError(id, `model "${id}" has no file to delete (${entry.error ?? "missing"})`);
    rmSync(entry.path);
    new HashCache(db).forget(entry.path);
    new ModelSourceStore(db).forget(entry.path);
    await registry.refresh();
    let stillInLock = false;
    if (lockPath !== undefined && existsSync(lockPath)) {
        try {
            stillInLock = readLockFile(lockPath).lock.models.some((model) => model.file === entry.file);
        } catch {
            stillInLock = false; // an unreadable lock is reported by verify, not here
        }
    }
    return { id, file: entry.file, path: entry.path, stillInLock };
}
