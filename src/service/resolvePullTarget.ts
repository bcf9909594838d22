import { existsSync } from "node:fs";
import type { ServiceConfig } from "../config/loadConfig.js";
import { isModelUri } from "../models/download/parseModelUri.js";
import { readLockFile } from "../models/lock/readLockFile.js";
import { ModelNotFoundError } from "../models/modelErrors.js";
import type { ModelRegistry } from "../models/ModelRegistry.js";
import { assertSafeModelId } from "../models/resolveModelPath.js";
import { toModelId } from "../ollama/ollamaModels.js";

/** What a pull request by name means: download a URI (maybe as a locked file), or nothing to do. */
export type PullTarget =
    | { kind: "download"; uri: string; file?: string; expectedSha256?: string; expectedSize?: number }
    | { kind: "present"; id: string };

/**
 * `POST /api/pull` names a URI, or a model id. An id is pulled from the lock's `source` when the lock lists it;
 * an id already present needs nothing; anything else cannot be resolved (we have no registry of names).
 */
export async function resolvePullTarget(name: string, config: ServiceConfig, registry: ModelRegistry): Promise<PullTarget> {
    if (isModelUri(name)) return { kind: "download", uri: name.trim() };
    const id = toModelId(name);
    assertSafeModelId(id);
    if (existsSync(config.lockPath)) {
        const locked = readLockFile(config.lockPath).lock.models.find((model) => model.id === id);
        if (locked?.source !== undefined) {
            return { kind: "download", uri: locked.source, file: locked.file, expectedSha256: locked.sha256, expectedSize: locked.size };
        }
    }
    await registry.refresh();
    if (registry.list().some((entry) => entry.id === id && entry.state === "available")) return { kind: "present", id };
    throw new ModelNotFoundError(
        id,
        `model "${id}" is not present and cannot be pulled by name: pass a URI (https://, hf:owner/repo/file.gguf, s3://, gs://) or list it with a source in the lock file`
    );
}
