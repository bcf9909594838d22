import type { SqliteDatabase } from "../../db/openDatabase.js";
import { HashCache } from "../HashCache.js";
import type { ModelEntry } from "../ModelRegistry.js";
import { ModelSourceStore } from "../ModelSourceStore.js";
import type { LockFile, LockedModel } from "./lockFileSchema.js";
import { readEngineVersions } from "./readEngineVersions.js";

export interface BuildLockFileOptions {
    /** The registry's entries (files present; upstream-only and missing models are skipped). */
    entries: readonly ModelEntry[];
    db?: SqliteDatabase;
    /** The lock being replaced: its `source` is kept for files whose bytes did not change. */
    previous?: LockFile;
    /** Called per file before it is hashed (`cached` when the hash cache answers). */
    onModel?: (model: LockedModel, cached: boolean) => void;
    signal?: AbortSignal;
}

/** `models lock`: the exact bytes of every model file present, with the source each was pulled from when known. */
export async function buildLockFile(options: BuildLockFileOptions): Promise<LockFile> {
    const hashes = new HashCache(options.db);
    const sources = new ModelSourceStore(options.db);
    const previousByFile = new Map((options.previous?.models ?? []).map((model) => [model.file, model]));
    const models: LockedModel[] = [];
    for (const entry of options.entries) {
        if (entry.file === undefined || entry.path === undefined || entry.state === "missing") continue;
        const { sha256, size, cached } = await hashes.hash(entry.path, { signal: options.signal });
        const previous = previousByFile.get(entry.file);
        const source = sources.lookup(entry.path, sha256)?.source ?? (previous?.sha256 === sha256 ? previous.source : undefined);
        const model: LockedModel = { id: entry.id, file: entry.file, sha256, size, ...(source !== undefined ? { source } : {}) };
        options.onModel?.(model, cached);
        models.push(model);
    }
    models.sort((a, b) => a.id.localeCompare(b.id));
    return { engine: readEngineVersions(), models };
}
