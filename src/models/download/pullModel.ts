import { statSync } from "node:fs";
import { basename } from "node:path";
import type { SqliteDatabase } from "../../db/openDatabase.js";
import { HashCache } from "../HashCache.js";
import { ModelSourceStore } from "../ModelSourceStore.js";
import { assertSafeModelId, resolveModelFile } from "../resolveModelPath.js";
import { createModelSource, type SourceSettings } from "./createModelSource.js";
import type { DownloadListener } from "./DownloadEvent.js";
import { DownloadsDisabledError } from "./DownloadsDisabledError.js";
import { downloadModelFile, type DownloadModelFileOptions, type DownloadResult } from "./downloadModelFile.js";
import { InvalidModelUriError } from "./InvalidModelUriError.js";
import { parseModelUri } from "./parseModelUri.js";

const GGUF_SUFFIX = ".gguf";

export interface PullModelOptions {
    uri: string;
    modelsDir: string;
    settings: SourceSettings;
    /** Hash cache and source records; optional so a pull works without the database. */
    db?: SqliteDatabase;
    /** Save as this model id (`<name>.gguf`). Default: the file name in the URI. */
    name?: string;
    /** Save as this file, relative to modelsDir (lock entries name their file). Wins over `name`. */
    file?: string;
    expectedSha256?: string;
    expectedSize?: number;
    /** Overwrite a target that holds different bytes. Default false. */
    force?: boolean;
    /** Offline mode: refuse to download. Default false. */
    offline?: boolean;
    onEvent?: DownloadListener;
    signal?: AbortSignal;
    /** Retry and timeout tuning (tests shorten them). */
    tuning?: Pick<DownloadModelFileOptions, "maxAttempts" | "retryBaseDelayMs" | "maxRetryDelayMs" | "stallTimeoutMs" | "progressIntervalMs">;
}

export interface PullResult extends DownloadResult {
    /** Model id (file name without .gguf). */
    id: string;
    /** File name relative to modelsDir. */
    file: string;
    source: string;
}

/** Chooses the target file name: explicit file, else `<name>.gguf`, else the URI's own file name. */
function targetFileName(options: PullModelOptions, suggested: string | undefined): string {
    if (options.file !== undefined) return options.file;
    if (options.name !== undefined) {
        const id = options.name.toLowerCase().endsWith(GGUF_SUFFIX) ? options.name.slice(0, -GGUF_SUFFIX.length) : options.name;
        assertSafeModelId(id);
        return `${id}${GGUF_SUFFIX}`;
    }
    if (suggested === undefined) throw new InvalidModelUriError(options.uri, "names no file; pass --name ID to choose the model id");
    if (!suggested.toLowerCase().endsWith(GGUF_SUFFIX)) {
        throw new InvalidModelUriError(options.uri, `"${suggested}" is not a .gguf file name; pass --name ID to save it as ID.gguf`);
    }
    assertSafeModelId(suggested.slice(0, -GGUF_SUFFIX.length));
    return suggested;
}

/**
 * `models pull`: resolves the URI, downloads into modelsDir (resume, sha256, atomic rename) and records the
 * source and hash in the database so `models lock` and later verifications need not reread the file.
 */
export async function pullModel(options: PullModelOptions): Promise<PullResult> {
    parseModelUri(options.uri); // reject a malformed URI before anything else
    if (options.offline === true) throw new DownloadsDisabledError(options.uri);
    const signal = options.signal ?? new AbortController().signal;
    const source = await createModelSource(options.uri, options.settings, signal);
    const file = targetFileName(options, source.fileName);
    const target = resolveModelFile(options.modelsDir, file);
    const hashes = new HashCache(options.db);
    const result = await downloadModelFile(source, {
        target,
        expectedSha256: options.expectedSha256,
        expectedSize: options.expectedSize,
        force: options.force,
        hashExisting: async (path) => (await hashes.hash(path, { signal })).sha256,
        onEvent: options.onEvent,
        signal,
        ...options.tuning
    });
    // Key the records by the path the registry uses (symlinks resolved now that the file exists).
    const recordedPath = resolveModelFile(options.modelsDir, file);
    hashes.store(recordedPath, statSync(recordedPath), result.sha256);
    new ModelSourceStore(options.db).record(recordedPath, source.uri, result.sha256, result.size);
    return { ...result, path: recordedPath, id: basename(file).replace(/\.gguf$/i, ""), file, source: source.uri };
}
