import { acquireLockFile } from "../../util/acquireLockFile.js";
import { DownloadInProgressError } from "./DownloadInProgressError.js";

/** Held while a download writes its `.partial`; released by calling the returned function. */
export type ReleaseLock = () => void;

const heldInThisProcess = new Set<string>();

/**
 * Takes `<target>.partial.lock`, so two pulls of one file (two CLIs, or a CLI and the server) never write the same
 * partial file. A lock left by a dead process on this host is taken over.
 */
export function acquireDownloadLock(target: string): ReleaseLock {
    const lockPath = `${target}.partial.lock`;
    if (heldInThisProcess.has(lockPath)) throw new DownloadInProgressError(target, "this process (another request)");
    const release = acquireLockFile(
        lockPath,
        (holder) => new DownloadInProgressError(target, `process ${holder.pid ?? "?"} on ${holder.host ?? "?"} (if it is gone, delete ${lockPath})`)
    );
    heldInThisProcess.add(lockPath);
    return () => {
        heldInThisProcess.delete(lockPath);
        release();
    };
}
