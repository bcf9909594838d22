import { createHash, type Hash } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, truncateSync, type Stats } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { hashFile, hashInto } from "../hashFile.js";
import { acquireDownloadLock } from "./acquireDownloadLock.js";
import { ChecksumMismatchError } from "./ChecksumMismatchError.js";
import { checkFreeSpace } from "./checkFreeSpace.js";
import { classifyNetworkError } from "./classifyNetworkError.js";
import { DownloadError } from "./DownloadError.js";
import type { DownloadListener, DownloadStatus } from "./DownloadEvent.js";
import type { ModelSource, SourceStream } from "./ModelSource.js";
import { partialPathOf, readPartialInfo, removePartial, removePartialInfo, writePartialInfo, type PartialInfo } from "./partialDownload.js";
import { SpeedMeter } from "./SpeedMeter.js";
import { TargetExistsError } from "./TargetExistsError.js";

export interface DownloadModelFileOptions {
    /** Absolute target path, already checked to lie inside the models directory. */
    target: string;
    /** sha256 the file must have (lock file, --sha256). Default: the digest the source advertises, if any. */
    expectedSha256?: string;
    /** Size the file must have (lock file). */
    expectedSize?: number;
    /** Replace a target that holds different bytes. Default false: such a target is an error. */
    force?: boolean;
    /** Hashes an existing target; pass the hash cache's to avoid rereading unchanged files. Default: read it. */
    hashExisting?: (path: string) => Promise<string>;
    onEvent?: DownloadListener;
    /** Aborting keeps the partial file for a later resume. */
    signal?: AbortSignal;
    /** Attempts in a row without progress before giving up. Default 6. */
    maxAttempts?: number;
    /** First retry delay; doubles per failure. Default 500 ms. */
    retryBaseDelayMs?: number;
    /** Longest retry delay. Default 30 s. */
    maxRetryDelayMs?: number;
    /** An attempt that receives nothing for this long is retried. Default 60 s. */
    stallTimeoutMs?: number;
    /** Least time between two progress events. Default 250 ms. */
    progressIntervalMs?: number;
}

export interface DownloadResult {
    path: string;
    sha256: string;
    size: number;
    status: DownloadStatus;
    /** Bytes reused from an earlier interrupted download. */
    resumedFrom: number;
    /** Source requests made (1 when nothing failed). */
    attempts: number;
}

function statOrUndefined(path: string): Stats | undefined {
    try {
        return statSync(path);
    } catch {
        return undefined;
    }
}

function abortError(signal: AbortSignal): Error {
    return signal.reason instanceof Error ? signal.reason : new Error("download aborted");
}

/** Rethrows body-read failures as retryable DownloadErrors; disk write errors pass through untouched. */
async function* readBody(stream: SourceStream, location: string): AsyncIterable<Uint8Array> {
    try {
        for await (const chunk of stream.body) yield chunk;
    } catch (error) {
        throw error instanceof DownloadError ? error : classifyNetworkError(location, error);
    }
}

/**
 * Downloads a source into `target`: bytes go to `<target>.partial` (resumed with a Range request when a partial
 * from the same source exists), the sha256 is computed while streaming, free disk space is checked first,
 * transient failures are retried with exponential backoff, and the finished file is renamed into place.
 * A target with other bytes is never replaced unless `force` is set; a wrong sha256 removes the partial file.
 */
export async function downloadModelFile(source: ModelSource, options: DownloadModelFileOptions): Promise<DownloadResult> {
    const target = options.target;
    const partial = partialPathOf(target);
    const emit: DownloadListener = options.onEvent ?? (() => undefined);
    const signal = options.signal ?? new AbortController().signal;
    const hashExisting = options.hashExisting ?? ((path: string) => hashFile(path, { signal }));
    const maxAttempts = options.maxAttempts ?? 6;
    const baseDelay = options.retryBaseDelayMs ?? 500;
    const maxDelay = options.maxRetryDelayMs ?? 30_000;
    const stallTimeoutMs = options.stallTimeoutMs ?? 60_000;
    const progressIntervalMs = options.progressIntervalMs ?? 250;

    mkdirSync(dirname(target), { recursive: true });
    const release = acquireDownloadLock(target);
    try {
        const existing = statOrUndefined(target);
        if (existing !== undefined && !existing.isFile()) throw new TargetExistsError(target, "is not a regular file");
        let expected = options.expectedSha256?.toLowerCase() ?? source.known.sha256;
        if (existing !== undefined && expected !== undefined) {
            const current = await hashExisting(target);
            if (current === expected) {
                emit({ type: "done", path: target, sha256: current, size: existing.size, status: "present" });
                return { path: target, sha256: current, size: existing.size, status: "present", resumedFrom: 0, attempts: 0 };
            }
            if (options.force !== true) throw new TargetExistsError(target, `has sha256 ${current}, not the expected ${expected}`);
        }

        let info: PartialInfo | undefined = readPartialInfo(target);
        let offset = statOrUndefined(partial)?.size ?? 0;
        const sameSource =
            info !== undefined &&
            info.uri === source.uri &&
            (expected === undefined || info.expectedSha256 === undefined || info.expectedSha256 === expected);
        if (!sameSource || offset === 0) {
            if (offset > 0) emit({ type: "restart", reason: "the partial file came from another source; starting over" });
            removePartial(target);
            info = undefined;
            offset = 0;
        }
        let hash: Hash = createHash("sha256");
        if (offset > 0) await hashInto(hash, partial, { length: offset, signal });
        let resumedFrom = offset;

        const meter = new SpeedMeter();
        const restartFromZero = (reason: string): void => {
            emit({ type: "restart", reason });
            truncateSync(partial, 0);
            hash = createHash("sha256");
            offset = 0;
            resumedFrom = 0;
            meter.reset();
        };

        let attempts = 0;
        let failuresInRow = 0;
        let started = false;
        let total: number | undefined;
        for (;;) {
            attempts++;
            const attempt = new AbortController();
            const onAbort = (): void => attempt.abort(signal.reason);
            signal.addEventListener("abort", onAbort, { once: true });
            let stream: SourceStream | undefined;
            let file: FileHandle | undefined;
            let stallTimer: NodeJS.Timeout | undefined;
            let progressed = false;
            try {
                if (signal.aborted) throw abortError(signal);
                stream = await source.open(offset, info?.etag, attempt.signal);
                const changed =
                    offset > 0 &&
                    stream.offset === offset &&
                    ((info?.etag !== undefined && stream.etag !== undefined && info.etag !== stream.etag) ||
                        (info?.size !== undefined && stream.size !== undefined && info.size !== stream.size));
                if (changed) {
                    // The source ignored If-Range but the object is a different version: the partial is useless.
                    stream.close();
                    restartFromZero("the source object changed since the partial download; starting over");
                    stream = await source.open(0, undefined, attempt.signal);
                } else if (stream.offset !== offset) {
                    restartFromZero("the source did not resume at the partial file's end; starting over");
                }
                if (!started) {
                    total = stream.size;
                    expected ??= stream.sha256;
                    if (options.expectedSize !== undefined && total !== undefined && total !== options.expectedSize) {
                        throw new DownloadError(source.location, `size mismatch: expected ${options.expectedSize} bytes, the source has ${total}`);
                    }
                    if (existing !== undefined && options.force !== true && expected === undefined && total !== undefined && total !== existing.size) {
                        throw new TargetExistsError(target, `differs in size (${existing.size} bytes here, ${total} at the source)`);
                    }
                    await checkFreeSpace(dirname(target), (total ?? 0) - offset);
                    emit({ type: "start", uri: source.uri, location: source.location, path: target, total, resumedFrom: offset, expectedSha256: expected });
                    started = true;
                } else if (stream.size !== undefined) {
                    total = stream.size;
                }
                info = { uri: source.uri, location: source.location, etag: stream.etag, size: stream.size, expectedSha256: expected };
                writePartialInfo(target, info);

                file = await open(partial, offset === 0 ? "w" : "a");
                let lastChunkAt = performance.now();
                stallTimer = setInterval(() => {
                    if (performance.now() - lastChunkAt > stallTimeoutMs) {
                        attempt.abort(new DownloadError(source.location, `no data for ${Math.round(stallTimeoutMs / 1000)} s`, { retryable: true }));
                        stream?.close();
                    }
                }, Math.min(1000, Math.max(50, stallTimeoutMs / 4)));
                let lastEmitAt = 0;
                for await (const chunk of readBody(stream, source.location)) {
                    lastChunkAt = performance.now();
                    await file.write(chunk);
                    hash.update(chunk);
                    offset += chunk.length;
                    progressed = true;
                    if (lastChunkAt - lastEmitAt >= progressIntervalMs) {
                        lastEmitAt = lastChunkAt;
                        emit({ type: "progress", completed: offset, total, bytesPerSecond: meter.update(offset, lastChunkAt) });
                    }
                }
                if (attempt.signal.aborted) throw attempt.signal.reason;
                await file.sync();
                if (total !== undefined && offset < total) {
                    throw new DownloadError(source.location, `connection closed after ${offset} of ${total} bytes`, { retryable: true });
                }
                if (total !== undefined && offset > total) {
                    removePartial(target);
                    throw new DownloadError(source.location, `received ${offset} bytes, more than the ${total} announced`);
                }
                emit({ type: "progress", completed: offset, total: total ?? offset, bytesPerSecond: meter.update(offset) });
                break;
            } catch (caught) {
                if (signal.aborted) throw abortError(signal);
                // A stall aborts the attempt; its reason says so. Anything else that is not a download failure
                // (disk full, target exists, bad size) is final.
                const error = attempt.signal.aborted && attempt.signal.reason instanceof DownloadError ? attempt.signal.reason : caught;
                if (!(error instanceof DownloadError) || !error.retryable) throw error;
                failuresInRow = progressed ? 1 : failuresInRow + 1;
                if (failuresInRow >= maxAttempts) {
                    throw new DownloadError(source.location, `giving up after ${failuresInRow} failed attempts in a row: ${error.message}`, {
                        statusCode: error.statusCode,
                        cause: error
                    });
                }
                const delayMs = Math.round(Math.min(maxDelay, baseDelay * 2 ** (failuresInRow - 1)) * (0.8 + Math.random() * 0.4));
                emit({ type: "retry", attempt: failuresInRow, maxAttempts, delayMs, error: error.message, completed: offset });
                try {
                    await sleep(delayMs, undefined, { signal });
                } catch {
                    throw abortError(signal);
                }
            } finally {
                if (stallTimer !== undefined) clearInterval(stallTimer);
                signal.removeEventListener("abort", onAbort);
                stream?.close();
                await file?.close().catch(() => undefined);
            }
        }

        emit({ type: "verifying", path: target });
        const sha256 = hash.digest("hex");
        const size = offset;
        if (expected !== undefined && sha256 !== expected) {
            removePartial(target);
            throw new ChecksumMismatchError(basename(target), expected, sha256, `downloaded from ${source.location}`);
        }
        if (options.expectedSize !== undefined && size !== options.expectedSize) {
            removePartial(target);
            throw new DownloadError(source.location, `size mismatch: expected ${options.expectedSize} bytes, received ${size}`);
        }
        if (existing !== undefined && options.force !== true) {
            // No digest was known up front: compare with what is there now that we have the bytes.
            const current = await hashExisting(target);
            removePartial(target);
            if (current !== sha256) throw new TargetExistsError(target, `has different content (sha256 ${current}; downloaded ${sha256})`);
            emit({ type: "done", path: target, sha256, size, status: "present" });
            return { path: target, sha256, size, status: "present", resumedFrom, attempts };
        }
        renameSync(partial, target);
        removePartialInfo(target);
        syncDirectory(dirname(target));
        emit({ type: "done", path: target, sha256, size, status: "downloaded" });
        return { path: target, sha256, size, status: "downloaded", resumedFrom, attempts };
    } finally {
        release();
    }
}

/** Makes the rename durable (best effort: not every file system allows fsync on a directory). */
function syncDirectory(directory: string): void {
    try {
        const fd = openSync(directory, "r");
        try {
            fsyncSync(fd);
        } finally {
            closeSync(fd);
        }
    } catch {
        // ignore
    }
}
