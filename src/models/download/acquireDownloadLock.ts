import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { DownloadInProgressError } from "./DownloadInProgressError.js";

/** Held while a download writes its `.partial`; released by calling the returned function. */
export type ReleaseLock = () => void;

const heldInThisProcess = new Set<string>();

function isAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (error) {
        return (error as NodeJS.ErrnoException).code === "EPERM";
    }
}

/**
 * Takes `<target>.partial.lock` (O_EXCL), so two pulls of one file (two CLIs, or a CLI and the server) never
 * write the same partial file. A lock left by a dead process on this host is taken over.
 */
export function acquireDownloadLock(target: string): ReleaseLock {
    const lockPath = `${target}.partial.lock`;
    if (heldInThisProcess.has(lockPath)) throw new DownloadInProgressError(target, "this process (another request)");
    const owner = { pid: process.pid, host: hostname() };
    for (let attempt = 0; attempt < 2; attempt++) {
        let fd: number;
        try {
            fd = openSync(lockPath, "wx");
        } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
            let holder: { pid?: number; host?: string } = {};
            try {
                holder = JSON.parse(readFileSync(lockPath, "utf8")) as { pid?: number; host?: string };
            } catch {
                holder = {}; // half-written or garbage: treat as stale
            }
            const alive = typeof holder.pid === "number" && (holder.host !== owner.host || isAlive(holder.pid));
            if (alive) throw new DownloadInProgressError(target, `process ${holder.pid ?? "?"} on ${holder.host ?? "?"} (if it is gone, delete ${lockPath})`);
            try {
                unlinkSync(lockPath);
            } catch {
                // someone else removed it first; try again
            }
            continue;
        }
        writeSync(fd, JSON.stringify(owner));
        closeSync(fd);
        heldInThisProcess.add(lockPath);
        return () => {
            heldInThisProcess.delete(lockPath);
            try {
                unlinkSync(lockPath);
            } catch {
                // already gone
            }
        };
    }
    throw new DownloadInProgressError(target, "another process (lock file keeps reappearing)");
}
