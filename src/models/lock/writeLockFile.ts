import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { LockFile } from "./lockFileSchema.js";

/** Writes the lock atomically (temp file + rename), keys in a stable order for clean diffs. */
export function writeLockFile(path: string, lock: LockFile): string {
    const ordered = {
        ...(lock.engine !== undefined ? { engine: lock.engine } : {}),
        models: lock.models.map((model) => ({
            id: model.id,
            file: model.file,
            sha256: model.sha256,
            size: model.size,
            ...(model.source !== undefined ? { source: model.source } : {})
        }))
    };
    const text = `${JSON.stringify(ordered, null, 2)}\n`;
    mkdirSync(dirname(path), { recursive: true });
    const temporary = `${path}.tmp-${process.pid}`;
    writeFileSync(temporary, text);
    renameSync(temporary, path);
    return text;
}
