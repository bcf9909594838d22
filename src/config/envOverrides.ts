import { z } from "zod";
import { configSchema } from "./schema.js";

/** One configuration value that came from the environment, kept with its variable name for error messages. */
export interface EnvOverride {
    path: string[];
    variable: string;
    value: unknown;
}

/** Contract names (SERVICE.md) that map onto config keys in addition to the generated `MENTATOR_<KEY>` names. */
const aliasVariables: ReadonlyArray<readonly [variable: string, path: string]> = [
    ["MODELS_DIR", "modelDir"],
    ["LOCK_PATH", "lockFile"],
    ["HF_ENDPOINT", "hfEndpoint"],
    ["HF_TOKEN", "hfToken"],
    ["OUTPUT_MODE", "jobs.outputMode"],
    ["S3_ENDPOINT", "storage.s3.endpoint"],
    ["S3_REGION", "storage.s3.region"],
    ["S3_BUCKET", "storage.s3.bucket"],
    ["S3_ACCESS_KEY_ID", "storage.s3.accessKeyId"],
    ["S3_SECRET_ACCESS_KEY", "storage.s3.secretAccessKey"],
    ["S3_PREFIX", "storage.s3.prefix"],
    ["S3_FORCE_PATH_STYLE", "storage.s3.forcePathStyle"],
    ["CLOUDRU_S3_ENDPOINT", "storage.s3.endpoint"],
    ["CLOUDRU_S3_REGION", "storage.s3.region"],
    ["CLOUDRU_S3_BUCKET", "storage.s3.bucket"],
    ["CLOUDRU_S3_ACCESS_KEY_ID", "storage.s3.accessKeyId"],
    ["CLOUDRU_S3_SECRET_ACCESS_KEY", "storage.s3.secretAccessKey"],
    ["CLOUDRU_S3_PREFIX", "storage.s3.prefix"],
    ["CLOUDRU_S3_FORCE_PATH_STYLE", "storage.s3.forcePathStyle"],
    ["GCS_BUCKET", "storage.gcs.bucket"],
    ["GOOGLE_APPLICATION_CREDENTIALS", "storage.gcs.credentialsFile"],
    ["GOOGLE_CLOUD_PROJECT", "storage.gcs.projectId"],
    ["GCS_PROJECT", "storage.gcs.projectId"],
    ["GCS_PREFIX", "storage.gcs.prefix"],
    ["GCS_RETRIES", "storage.gcs.retries"],
    ["GCS_RETRY_BASE_SLEEP", "storage.gcs.retryBaseSleepSeconds"],
    ["GCS_PUBLIC", "storage.gcs.public"],
    ["GCS_SIGNED_URL_TTL", "storage.gcs.signedUrlTtlSeconds"],
    ["GCS_VALIDATE", "storage.gcs.validate"],
    ["GCS_ENDPOINT", "storage.gcs.endpoint"]
];

/** Variables that look like config overrides but name locations, handled by resolveConfigLocation. */
const locationVariables = new Set(["MENTATOR_HOME", "MENTATOR_CONFIG", "MENTATOR_ROOT"]);

type LeafKind = "string" | "number" | "boolean" | "array" | "json" | "duration";

function unwrap(schema: z.ZodType): z.ZodType {
    let current = schema;
    while (current instanceof z.ZodDefault || current instanceof z.ZodOptional) {
        current = current.unwrap() as z.ZodType;
    }
    return current;
}

function leafKindOf(schema: z.ZodType): LeafKind {
    const inner = unwrap(schema);
    if (inner instanceof z.ZodNumber) return "number";
    if (inner instanceof z.ZodBoolean) return "boolean";
    if (inner instanceof z.ZodArray) return "array";
    if (inner instanceof z.ZodRecord || inner instanceof z.ZodObject) return "json";
    if (inner instanceof z.ZodUnion) return "duration";
    return "string";
}

function toEnvName(path: readonly string[]): string {
    return "MENTATOR_" + path.map((part) => part.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()).join("_");
}

/** Every config key (nested objects flattened, `models` kept whole) with its generated variable name. */
function listConfigKeys(): Array<{ path: string[]; variable: string; kind: LeafKind }> {
    const keys: Array<{ path: string[]; variable: string; kind: LeafKind }> = [];
    const walk = (schema: z.ZodType, path: string[]): void => {
        const inner = unwrap(schema);
        if (inner instanceof z.ZodObject && path[0] !== "models") {
            for (const [key, child] of Object.entries(inner.shape as Record<string, z.ZodType>)) walk(child, [...path, key]);
            return;
        }
        keys.push({ path, variable: toEnvName(path), kind: leafKindOf(schema) });
    };
    walk(configSchema, []);
    return keys;
}

const configKeys = listConfigKeys();
const kindByPath = new Map(configKeys.map((key) => [key.path.join("."), key.kind]));

function coerce(raw: string, kind: LeafKind): unknown {
    const text = raw.trim();
    switch (kind) {
        case "number":
            return text !== "" && Number.isFinite(Number(text)) ? Number(text) : raw;
        case "boolean":
            if (/^(1|true|yes|on)$/i.test(text)) return true;
            if (/^(0|false|no|off)$/i.test(text)) return false;
            return raw;
        case "duration":
            return text !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
        case "array":
            if (text.startsWith("[")) return parseJsonOrRaw(text);
            return text === "" ? [] : text.split(",").map((item) => item.trim()).filter((item) => item !== "");
        case "json":
            return parseJsonOrRaw(text);
        case "string":
            return raw;
    }
}

function parseJsonOrRaw(text: string): unknown {
    try {
        return JSON.parse(text) as unknown;
    } catch {
        return text;
    }
}

/** Reads `MENTATOR_<KEY>` variables and the contract's aliases; generated names win over aliases. */
export function readEnvOverrides(env: NodeJS.ProcessEnv): EnvOverride[] {
    const overrides = new Map<string, EnvOverride>();
    for (const [variable, dotted] of aliasVariables) {
        const value = env[variable];
        if (value === undefined || value === "") continue;
        overrides.set(dotted, { path: dotted.split("."), variable, value: coerce(value, kindByPath.get(dotted) ?? "string") });
    }
    for (const key of configKeys) {
        const value = env[key.variable];
        if (value === undefined || locationVariables.has(key.variable)) continue;
        overrides.set(key.path.join("."), { path: key.path, variable: key.variable, value: coerce(value, key.kind) });
    }
    return [...overrides.values()];
}

/** The variable names users can set, for documentation and `--help`. */
export function listEnvVariables(): string[] {
    return [...configKeys.map((key) => key.variable), ...aliasVariables.map(([variable]) => variable)];
}
