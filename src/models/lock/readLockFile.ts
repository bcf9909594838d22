import { readFileSync } from "node:fs";
import { LockFileError } from "./LockFileError.js";
import { lockFileSchema, type LockFile } from "./lockFileSchema.js";

/** The lock as parsed plus its exact bytes (the fingerprint covers them). */
export interface LoadedLockFile {
    path: string;
    lock: LockFile;
    text: string;
}

/** Reads and validates a lock file; problems are LockFileErrors naming the file and the JSON path. */
export function readLockFile(path: string): LoadedLockFile {
    let text: string;
    try {
        text = readFileSync(path, "utf8");
    } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new LockFileError(path, code === "ENOENT" ? "lock file not found" : `cannot read: ${(error as Error).message}`, { cause: error });
    }
    let value: unknown;
    try {
        value = JSON.parse(text) as unknown;
    } catch (error) {
        throw new LockFileError(path, `invalid JSON: ${(error as Error).message}`, { cause: error });
    }
    const result = lockFileSchema.safeParse(value);
    if (!result.success) {
        const problems = result.error.issues.map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message.replace(/^Invalid input: /, "")}`);
        throw new LockFileError(path, problems.join("; "));
    }
    const seenIds = new Set<string>();
    const seenFiles = new Set<string>();
    for (const [index, model] of result.data.models.entries()) {
        if (seenIds.has(model.id)) throw new LockFileError(path, `models.${index}.id: "${model.id}" is listed twice`);
        if (seenFiles.has(model.file)) throw new LockFileError(path, `models.${index}.file: "${model.file}" is listed twice`);
        seenIds.add(model.id);
        seenFiles.add(model.file);
    }
    const lock: LockFile = {
        ...(result.data.engine !== undefined ? { engine: result.data.engine } : {}),
        models: result.data.models.map(({ source, ...model }) => ({ ...model, ...(source !== undefined ? { source } : {}) }))
    };
    return { path, lock, text };
}
