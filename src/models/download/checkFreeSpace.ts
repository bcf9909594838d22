import { statfs } from "node:fs/promises";
import { InsufficientDiskSpaceError } from "./InsufficientDiskSpaceError.js";

/** Throws InsufficientDiskSpaceError when `directory`'s file system has less than `neededBytes` free for us. */
export async function checkFreeSpace(directory: string, neededBytes: number): Promise<void> {
    if (neededBytes <= 0) return;
    let available: number;
    try {
        const stats = await statfs(directory);
        available = stats.bavail * stats.bsize;
    } catch {
        return; // statfs unsupported here: the write itself will fail with ENOSPC if space runs out
    }
    if (available < neededBytes) throw new InsufficientDiskSpaceError(directory, neededBytes, available);
}
