import { DEFAULT_PORT } from "./schema.js";

/** The commented config file written on first run. Every key is optional; this shows the defaults. */
export function defaultConfigText(options: { dockerMode: boolean }): string {
    const host = options.dockerMode ? "0.0.0.0" : "127.0.0.1";
    const dockerNote = options.dockerMode
        ? "    // Docker mode (--conf-docker): host, port, dbFile and modelDir are fixed by the service.\n"
        : "";
    return `// Mentator LLM Service configuration (JSONC: comments and trailing commas are allowed).
// Precedence: command-line flags > environment (MENTATOR_<KEY>, e.g. MENTATOR_LIMITS_MAX_QUEUE) > this file > defaults.
{
${dockerNote}    "host": "${host}",
    "port": ${DEFAULT_PORT},

    // Relative paths are resolved against this file's directory.
    "dbFile": "mentator-llm-service.db",
    "modelDir": "models",

    // Model id (file name without .gguf) loaded at start, or a URI downloaded on first start
    // (https://..., hf:owner/repo/file.gguf, s3://bucket/key, gs://bucket/key). Empty: the first model in modelDir.
    "defaultModel": "",

    // Model lock verified before the service is ready (default: <modelDir>/mentator.lock.json when present; env LOCK_PATH).
    "lockFile": "",

    // Hugging Face endpoint and token for hf: URIs (env HF_ENDPOINT, HF_TOKEN).
    "hfEndpoint": "https://huggingface.co",
    "hfToken": "",

    // auto | cuda | rocm | vulkan | cpu. A forced backend that is not usable stops the service (exit 1).
    "gpu": "auto",

    // auto | node-llama-cpp | llama-server (auto: llama-server when its binary for the chosen backend exists).
    "engine": "auto",

    // Where llama-server binaries are found: <engineDir>/<backend>/llama-server (env MENTATOR_ENGINE_DIR), and the
    // cache written by "mentator engine build" (env MENTATOR_ENGINE_CACHE; empty: <data>/engines).
    "engineDir": "",
    "engineCache": "",

    // API keys accepted as "Authorization: Bearer KEY" or "X-Api-Key: KEY". Empty: no authentication.
    "apiKeys": [],

    // Unload a model after it has been idle this long (30s, 5m, 1h; negative: never).
    "keepAlive": "5m",

    // Context tokens per parallel sequence, and sequences per model (0: chosen from free memory).
    "contextSize": 4096,
    "parallel": 0,

    // CPU threads for evaluation (0: all cores).
    "threads": 0,

    // Never download anything (models come only from modelDir).
    "offline": false,

    "logLevel": "info",

    // Per-model overrides, keyed by model id:
    // "models": { "qwen": { "file": "qwen2.5-0.5b-instruct-q8_0.gguf", "contextSize": 8192, "parallel": 4,
    //                       "gpuLayers": "max", "keepAlive": "1h", "engine": "llama-server" },
    //             "remote": { "upstream": "http://10.0.0.5:8000/v1", "upstreamModel": "meta-llama/Llama-3.1-8B" } },
    "models": {},

    "limits": {
        "maxQueue": 64,           // requests waiting for a free sequence; more get 503 at once
        "maxLoadedModels": 1,     // least recently used idle model is unloaded past this
        "requestTimeoutMs": 600000,
        "maxBodyBytes": 16777216,
        "shutdownTimeoutMs": 10000
    }
}
`;
}
