import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";

/** Who holds a lock file, as written into it. */
export interface LockHolder {
    pid?: number;
    host?: string;
}

function isAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (error) {
        return (error as NodeJS.ErrnoException).code === "EPERM";
    }
}

/**
 * Takes `lockPath` (O_EXCL) and writes our pid and host into it; returns the function that releases it. A lock
 * left by a process that is gone on this host, or one that cannot be read, is taken over; while a live owner
 * holds it, throws the error `held` makes from the owner.
 */
export function acquireLockFile(lockPath: string, held: (holder: LockHolder) => Error): () => void {
    const owner = { pid: process.pid, host: hostname() };
    let holder: LockHolder = {};
    for (let attempt = 0; attempt < 2; attempt++) {
        let fd: number;
        try {
            fd = openSync(lockPath, "wx");
        } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
            try {
                holder = JSON.parse(readFileSync(lockPath, "utf8")) as LockHolder;
            } catch {
                holder = {}; // half-written or garbage: treat as stale
            }
            const alive = typeof holder.pid === "number" && (holder.host !== owner.host || isAlive(holder.pid));
            if (alive) throw held(holder);
            try {
                unlinkSync(lockPath);
            } catch {
                // someone else removed it first; try again
            }
            continue;
        }
        writeSync(fd, JSON.stringify(owner));
        closeSync(fd);
        return () => {
            try {
                unlinkSync(lockPath);
            } catch {
                // already gone
            }
        };
    }
    // Removed and re-created by someone else twice in a row: treat as held.
    throw held(holder);
}
