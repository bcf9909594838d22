import { createHash } from "node:crypto";
import type { Stats } from "node:fs";

/**
 * Identifies "this lock, and these files exactly as they were": the lock's bytes plus each listed file's
 * size, mtime, ctime and inode. Equal to the stored fingerprint of the last clean verification -> nothing to re-hash.
 */
export function lockFingerprint(lockText: string, files: ReadonlyArray<{ file: string; stats: Stats | undefined }>): string {
    const hash = createHash("sha256").update(lockText).update("\0");
    for (const { file, stats } of files) {
        const identity = stats === undefined ? "missing" : `${stats.size}:${Math.trunc(stats.mtimeMs)}:${Math.trunc(stats.ctimeMs)}:${stats.ino}`;
        hash.update(`${file}\0${identity}\n`);
    }
    return hash.digest("hex");
}
