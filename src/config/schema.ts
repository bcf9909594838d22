import { z } from "zod";

export const DEFAULT_PORT = 19777;
export const CONFIG_FILE_NAME = "mentator-llm-service.conf.jsonc";
export const DB_FILE_NAME = "mentator-llm-service.db";
export const MODELS_DIR_NAME = "models";
export const LOCK_FILE_NAME = "mentator.lock.json";
/** Docker image root (`$MENTATOR_ROOT`); baked default models live in its `default-models/`. */
export const DEFAULT_ROOT_DIR = "/opt/mentator-llm-service";

const gpuRequestSchema = z.enum(["auto", "cuda", "rocm", "vulkan", "cpu"]);
const engineKindSchema = z.enum(["auto", "node-llama-cpp", "llama-server"]);

/**
 * A duration: a number of seconds, or a string like "300ms", "30s", "5m", "1h".
 * 0 means "immediately", a negative value means "never".
 */
const durationSchema = z.union([
    z.number(),
    z.string().regex(/^-?\d+(\.\d+)?(ms|s|m|h)?$/, "expected a duration like 30s, 5m, 1h or a number of seconds")
]);

const modelOverrideSchema = z.strictObject({
    /** GGUF file name relative to modelDir. */
    file: z.string().min(1).optional(),
    contextSize: z.number().int().positive().optional(),
    parallel: z.number().int().positive().max(256).optional(),
    gpuLayers: z.union([z.number().int().nonnegative(), z.literal("auto"), z.literal("max")]).optional(),
    keepAlive: durationSchema.optional(),
    engine: engineKindSchema.optional(),
    /** Base URL of an OpenAI-compatible server that serves this model. */
    upstream: z.string().url().optional(),
    /** Model name to send upstream (defaults to the id). */
    upstreamModel: z.string().min(1).optional(),
    upstreamApiKey: z.string().optional()
});

const limitsSchema = z.strictObject({
    maxQueue: z.number().int().nonnegative().default(64),
    maxLoadedModels: z.number().int().positive().default(1),
    requestTimeoutMs: z.number().int().positive().default(600_000),
    maxBodyBytes: z.number().int().positive().default(16 * 1024 * 1024),
    shutdownTimeoutMs: z.number().int().nonnegative().default(10_000)
});

const s3Schema = z.strictObject({
    endpoint: z.string().optional(),
    region: z.string().default("us-east-1"),
    bucket: z.string().optional(),
    accessKeyId: z.string().optional(),
    secretAccessKey: z.string().optional(),
    prefix: z.string().default("mentator/outputs"),
    forcePathStyle: z.boolean().default(false)
});

const gcsSchema = z.strictObject({
    bucket: z.string().optional(),
    projectId: z.string().optional(),
    credentialsFile: z.string().optional(),
    prefix: z.string().default("mentator/outputs"),
    retries: z.number().int().nonnegative().default(3),
    retryBaseSleepSeconds: z.number().nonnegative().default(0.5),
    public: z.boolean().default(false),
    signedUrlTtlSeconds: z.number().int().nonnegative().default(0),
    validate: z.boolean().default(true),
    endpoint: z.string().optional()
});

const jobsSchema = z.strictObject({
    concurrency: z.number().int().positive().default(1),
    maxAttempts: z.number().int().positive().default(3),
    executionTimeoutMs: z.number().int().positive().default(600_000),
    ttlMs: z.number().int().positive().default(24 * 3600_000),
    outputMode: z.enum(["inline", "base64", "s3", "gcs"]).default("inline"),
    /** Restrict accepted endpoint names; empty accepts any. */
    endpoints: z.array(z.string().min(1)).default([]),
    /** Requests of one batch job that run at the same time. */
    batchConcurrency: z.number().int().positive().default(4),
    /** Largest `batch_url` document read, in bytes. */
    maxBatchBytes: z.number().int().positive().default(256 * 1024 * 1024),
    /** Webhook deliveries tried per job (first try included), with exponential backoff from webhookRetryBaseMs. */
    webhookAttempts: z.number().int().positive().default(5),
    webhookRetryBaseMs: z.number().int().nonnegative().default(1000),
    webhookTimeoutMs: z.number().int().positive().default(10_000),
    /** How often finished jobs past their TTL are deleted. */
    purgeIntervalMs: z.number().int().positive().default(60_000)
});

export const configSchema = z.strictObject({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(DEFAULT_PORT),
    /** Relative paths are resolved against the data directory. */
    dbFile: z.string().min(1).default(DB_FILE_NAME),
    modelDir: z.string().min(1).default(MODELS_DIR_NAME),
    /** Model id (or, with [models], a URI) loaded at start. Empty: the only model present, if exactly one. */
    defaultModel: z.string().default(""),
    gpu: gpuRequestSchema.default("auto"),
    engine: engineKindSchema.default("auto"),
    /** Folder with prebuilt llama-server engines, `<engineDir>/<backend>/llama-server` (MENTATOR_ENGINE_DIR; the Docker image sets it). */
    engineDir: z.string().default(""),
    /** Cache of `mentator engine build`, `<engineCache>/<llama.cpp release>/<backend>/` (MENTATOR_ENGINE_CACHE); empty: `<data>/engines`. */
    engineCache: z.string().default(""),
    apiKeys: z.array(z.string().min(1)).default([]),
    keepAlive: durationSchema.default("5m"),
    contextSize: z.number().int().positive().default(4096),
    /** Parallel sequences per loaded model; 0 = chosen from memory. */
    parallel: z.number().int().nonnegative().max(256).default(0),
    /** CPU threads for evaluation; 0 = node-llama-cpp's choice (all cores). */
    threads: z.number().int().nonnegative().max(1024).default(0),
    offline: z.boolean().default(false),
    /** Model lock file; empty: `<modelDir>/mentator.lock.json` (verified at start when it exists). */
    lockFile: z.string().default(""),
    /** Hugging Face endpoint for `hf:` URIs (env HF_ENDPOINT); mirrors and tests point it elsewhere. */
    hfEndpoint: z.string().url().default("https://huggingface.co"),
    /** Hugging Face access token for gated or private repositories (env HF_TOKEN). */
    hfToken: z.string().default(""),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    models: z.record(z.string(), modelOverrideSchema).default({}),
    limits: limitsSchema.default(() => limitsSchema.parse({})),
    storage: z
        .strictObject({
            s3: s3Schema.default(() => s3Schema.parse({})),
            gcs: gcsSchema.default(() => gcsSchema.parse({}))
        })
        .default(() => ({ s3: s3Schema.parse({}), gcs: gcsSchema.parse({}) })),
    jobs: jobsSchema.default(() => jobsSchema.parse({}))
});

export type GpuRequestSetting = z.infer<typeof gpuRequestSchema>;
export type EngineKind = z.infer<typeof engineKindSchema>;
export type ModelOverride = z.infer<typeof modelOverrideSchema>;
export type FileConfig = z.infer<typeof configSchema>;
export type Duration = z.infer<typeof durationSchema>;
