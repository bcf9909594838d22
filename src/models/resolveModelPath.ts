import { realpathSync } from "node:fs";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { InvalidModelIdError } from "./modelErrors.js";

const MAX_ID_LENGTH = 200;

/** Checks that a model id is a plain name: no path separators, no "..", no control characters. */
export function assertSafeModelId(id: string): void {
    if (id.length === 0) throw new InvalidModelIdError(id, "empty");
    if (id.length > MAX_ID_LENGTH) throw new InvalidModelIdError(id.slice(0, 40) + "…", `longer than ${MAX_ID_LENGTH} characters`);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(id)) throw new InvalidModelIdError(id, "contains control characters");
    if (id.includes("/") || id.includes("\\")) throw new InvalidModelIdError(id, "contains a path separator");
    if (id === "." || id === ".." || id.startsWith(".")) throw new InvalidModelIdError(id, "starts with a dot");
}

function isInside(root: string, candidate: string): boolean {
    const rel = relative(root, candidate);
    return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) && !rel.split(sep).includes("..");
}

/**
 * Resolves a file name (relative to modelsDir, possibly in a subfolder) to an absolute path that is guaranteed
 * to stay inside modelsDir, following symlinks when the file exists.
 */
export function resolveModelFile(modelsDir: string, file: string): string {
    // eslint-disable-next-line no-control-regex
    if (file === "" || isAbsolute(file) || /[\u0000]/.test(file)) {
        throw new InvalidModelIdError(file, "model files must be relative to the models directory");
    }
    const root = resolve(modelsDir);
    const candidate = resolve(root, file);
    if (!isInside(root, candidate)) throw new InvalidModelIdError(file, "resolves outside the models directory");
    let realRoot = root;
    let realCandidate: string;
    try {
        realRoot = realpathSync(root);
        realCandidate = realpathSync(candidate);
    } catch {
        return candidate; // missing files are reported by the caller; the lexical check above already passed
    }
    if (!isInside(realRoot, realCandidate)) throw new InvalidModelIdError(file, "is a link that points outside the models directory");
    return realCandidate;
}
