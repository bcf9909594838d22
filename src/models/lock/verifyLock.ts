import { readdirSync, statSync, type Stats } from "node:fs";
import type { SqliteDatabase } from "../../db/openDatabase.js";
import { HashCache } from "../HashCache.js";
import { assertSafeModelId, resolveModelFile } from "../resolveModelPath.js";
import { lockFingerprint } from "./lockFingerprint.js";
import type { LockedModel } from "./lockFileSchema.js";
import { LockVerificationStore } from "./LockVerificationStore.js";
import { readEngineVersions } from "./readEngineVersions.js";
import { readLockFile } from "./readLockFile.js";

export type ModelCheckStatus = "ok" | "fetched" | "missing" | "size_mismatch" | "sha256_mismatch" | "fetch_failed" | "invalid";

export interface ModelCheck {
    id: string;
    file: string;
    status: ModelCheckStatus;
    expectedSha256: string;
    expectedSize: number;
    actualSha256?: string;
    actualSize?: number;
    /** The hash came from the cache (or the whole lock's fingerprint) instead of reading the file. */
    cached: boolean;
    /** One line for humans, naming the file. */
    message: string;
}

export interface VerifyLockReport {
    lockPath: string;
    ok: boolean;
    /** Nothing was hashed: the lock and every file's identity match the last clean verification. */
    fastPath: boolean;
    models: ModelCheck[];
    /** GGUF files in the models directory that the lock does not list (failures with `strict`). */
    unlocked: string[];
    /** Engine versions differing from the lock's (failures with `strict`). */
    engineMismatches: Array<{ name: string; locked: string; installed: string }>;
    /** Every failure, one line each. */
    problems: string[];
    durationMs: number;
}

export interface VerifyLockOptions {
    lockPath: string;
    modelsDir: string;
    /** Hash cache and fingerprint store; without it every file is read. */
    db?: SqliteDatabase;
    /** Also fail on unlisted GGUF files and engine version differences. Default false. */
    strict?: boolean;
    /** Downloads a missing model from its `source` (verify --fetch). Absent: missing models fail. */
    fetchModel?: (model: LockedModel) => Promise<{ sha256: string; size: number }>;
    /** Called before a file is read for hashing (not for cache hits). */
    onHashing?: (model: LockedModel) => void;
    /** Called with each model's result as it is known. */
    onCheck?: (check: ModelCheck) => void;
    signal?: AbortSignal;
}

function statOrUndefined(path: string | undefined): Stats | undefined {
    if (path === undefined) return undefined;
    try {
        const stats = statSync(path);
        return stats.isFile() ? stats : undefined;
    } catch {
        return undefined;
    }
}

function listGgufFiles(modelsDir: string): string[] {
    try {
        return readdirSync(modelsDir).filter((name) => name.toLowerCase().endsWith(".gguf") && !name.startsWith("."));
    } catch {
        return [];
    }
}

/**
 * `models verify`: checks that every model in the lock is present with the locked size and sha256, fetching
 * missing ones when asked. Unchanged files are not re-read (hash cache), and an unchanged lock with unchanged
 * files is accepted from its fingerprint alone.
 */
export async function verifyLock(options: VerifyLockOptions): Promise<VerifyLockReport> {
    const started = performance.now();
    const { lock, text } = readLockFile(options.lockPath);
    const hashes = new HashCache(options.db);
    const fingerprints = new LockVerificationStore(options.db);

    const targets = lock.models.map((model) => {
        try {
            assertSafeModelId(model.id);
            const path = resolveModelFile(options.modelsDir, model.file);
            return { model, path, error: undefined };
        } catch (error) {
            return { model, path: undefined, error: (error as Error).message };
        }
    });
    const fingerprintOf = (): string => lockFingerprint(text, targets.map((target) => ({ file: target.model.file, stats: statOrUndefined(target.path) })));

    const checks: ModelCheck[] = [];
    const report = (check: ModelCheck): void => {
        checks.push(check);
        options.onCheck?.(check);
    };
    const stored = fingerprints.lookup(options.lockPath);
    const fastPath = stored !== undefined && targets.every((target) => target.error === undefined) && stored.fingerprint === fingerprintOf();

    for (const { model, path, error } of targets) {
        const base = { id: model.id, file: model.file, expectedSha256: model.sha256, expectedSize: model.size };
        if (error !== undefined || path === undefined) {
            report({ ...base, status: "invalid", cached: false, message: `${model.file}: ${error ?? "invalid entry"}` });
            continue;
        }
        if (fastPath) {
            report({ ...base, status: "ok", actualSha256: model.sha256, actualSize: model.size, cached: true, message: `${model.file}: ok (unchanged since last verification)` });
            continue;
        }
        const stats = statOrUndefined(path);
        if (stats === undefined) {
            report(await fetchMissing(model, base, options));
            continue;
        }
        if (stats.size !== model.size) {
            report({ ...base, status: "size_mismatch", actualSize: stats.size, cached: false, message: `${model.file}: size mismatch: expected ${model.size} bytes, actual ${stats.size}` });
            continue;
        }
        const cachedHash = hashes.lookup(path, stats);
        if (cachedHash === undefined) options.onHashing?.(model);
        const { sha256, cached } = cachedHash !== undefined ? { sha256: cachedHash, cached: true } : await hashes.hash(path, { signal: options.signal });
        if (sha256 !== model.sha256) {
            report({
                ...base,
                status: "sha256_mismatch",
                actualSha256: sha256,
                actualSize: stats.size,
                cached,
                message: `${model.file}: sha256 mismatch: expected ${model.sha256}, actual ${sha256}`
            });
            continue;
        }
        report({ ...base, status: "ok", actualSha256: sha256, actualSize: stats.size, cached, message: `${model.file}: ok${cached ? " (cached hash)" : ""}` });
    }

    const listed = new Set(lock.models.map((model) => model.file));
    const unlocked = listGgufFiles(options.modelsDir).filter((file) => !listed.has(file));
    const installed = readEngineVersions();
    const engineMismatches = Object.entries(lock.engine ?? {})
        .filter(([name, locked]) => installed[name] !== undefined && installed[name] !== locked)
        .map(([name, locked]) => ({ name, locked, installed: installed[name]! }));

    const modelsOk = checks.every((check) => check.status === "ok" || check.status === "fetched");
    const problems = checks.filter((check) => check.status !== "ok" && check.status !== "fetched").map((check) => check.message);
    if (options.strict === true) {
        problems.push(...unlocked.map((file) => `${file}: present in the models directory but not in the lock`));
        problems.push(...engineMismatches.map((item) => `engine ${item.name}: lock has ${item.locked}, installed ${item.installed}`));
    }
    if (modelsOk) {
        if (!fastPath) fingerprints.record(options.lockPath, fingerprintOf());
    } else {
        fingerprints.forget(options.lockPath);
    }
    return {
        lockPath: options.lockPath,
        ok: problems.length === 0,
        fastPath,
        models: checks,
        unlocked,
        engineMismatches,
        problems,
        durationMs: performance.now() - started
    };
}

async function fetchMissing(
    model: LockedModel,
    base: Pick<ModelCheck, "id" | "file" | "expectedSha256" | "expectedSize">,
    options: VerifyLockOptions
): Promise<ModelCheck> {
    if (options.fetchModel === undefined) {
        const hint = model.source !== undefined ? " (verify --fetch downloads it)" : "";
        return { ...base, status: "missing", cached: false, message: `${model.file}: missing${hint}` };
    }
    if (model.source === undefined) {
        return { ...base, status: "missing", cached: false, message: `${model.file}: missing, and the lock has no source to fetch it from` };
    }
    try {
        const fetched = await options.fetchModel(model);
        return { ...base, status: "fetched", actualSha256: fetched.sha256, actualSize: fetched.size, cached: false, message: `${model.file}: fetched from ${model.source}` };
    } catch (error) {
        if (options.signal?.aborted === true) throw error;
        return { ...base, status: "fetch_failed", cached: false, message: `${model.file}: fetch from ${model.source} failed: ${(error as Error).message}` };
    }
}
