import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";

export interface HashFileOptions {
    /** Hash only the first `length` bytes. Default: the whole file. */
    length?: number;
    /** Called with the bytes hashed so far, at most every 64 MiB. */
    onProgress?: (bytes: number) => void;
    signal?: AbortSignal;
}

const CHUNK = 4 * 1024 * 1024;
const REPORT_EVERY = 64 * 1024 * 1024;

/** Streams a file (or its first `length` bytes) into `hash`; resolves to the byte count read. */
export async function hashInto(hash: Hash, path: string, options: HashFileOptions = {}): Promise<number> {
    if (options.length === 0) return 0;
    const stream = createReadStream(path, {
        highWaterMark: CHUNK,
        end: options.length !== undefined ? options.length - 1 : undefined,
        signal: options.signal
    });
    let bytes = 0;
    let reported = 0;
    for await (const chunk of stream) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
        if (options.onProgress !== undefined && bytes - reported >= REPORT_EVERY) {
            reported = bytes;
            options.onProgress(bytes);
        }
    }
    return bytes;
}

/** sha256 of a file, lower-case hex. */
export async function hashFile(path: string, options: HashFileOptions = {}): Promise<string> {
    const hash = createHash("sha256");
    await hashInto(hash, path, options);
    return hash.digest("hex");
}
