import type { z } from "zod";
import { UnsupportedRequestError } from "../engine/engineErrors.js";
import { chatCompletionRequestSchema, completionRequestSchema, embeddingRequestSchema, type ChatCompletionRequest, type CompletionRequest } from "../openai/requestSchemas.js";
import { toChatGenerationRequest, toTextGenerationRequests } from "../openai/toEngineRequest.js";
import type { GenerationJob } from "../service/InferenceService.js";
import type { OutputMode } from "../storage/OutputSink.js";
import { JobInputError } from "./JobInputError.js";

export const OPENAI_ROUTES = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"] as const;
export type OpenAiRoute = (typeof OPENAI_ROUTES)[number];
export const OUTPUT_MODES: readonly OutputMode[] = ["inline", "base64", "s3", "gcs"];

/**
 * How a response is written: `openai` gives OpenAI's body (chat.completion, text_completion, list of embeddings);
 * `vllm` gives RunPod worker-vllm's short-form output (`[{choices: [{tokens: [...]}], usage: {input, output}}]`).
 */
export type ResponseStyle = "openai" | "vllm";

/** One model request of a job, validated and converted to engine requests. */
export type JobRequest =
    | {
          kind: "generate";
          route: "/v1/chat/completions" | "/v1/completions";
          /** Requested model id; undefined: the default model. */
          model: string | undefined;
          jobs: GenerationJob[];
          /** Completions: the prompts (for `echo`). */
          prompts: string[];
          echo: boolean;
          includeUsage: boolean;
          style: ResponseStyle;
          /** OpenAI Batch API lines carry a `custom_id`; their result line is in the Batch API's output format. */
          customId?: string;
      }
    | {
          kind: "embed";
          route: "/v1/embeddings";
          model: string | undefined;
          inputs: string[];
          encoding: "float" | "base64";
          style: "openai";
          customId?: string;
      };

interface JobOptions {
    /** Publish partial outputs (`/stream/{id}`). */
    stream: boolean;
    /** Output mode asked for by the input (`output`). */
    output: OutputMode | undefined;
    /** Stream: deltas gathered into one partial output (`max_batch_size`, default 1). */
    streamBatchSize: number;
}

export type ParsedJobInput =
    | ({ kind: "single"; request: JobRequest } & JobOptions)
    | ({ kind: "batch"; requests: JobRequest[] } & JobOptions)
    | ({ kind: "batchUrl"; url: string } & JobOptions);

const TOP_LEVEL_KEYS = new Set([
    "openai_route",
    "openai_input",
    "messages",
    "prompt",
    "sampling_params",
    "model",
    "stream",
    "apply_chat_template",
    "use_openai_format",
    "max_batch_size",
    "min_batch_size",
    "batch_size_growth_factor",
    "batch",
    "batch_url",
    "output"
]);

/** Fields of one request in a batch (`stream` is accepted and ignored: batch lines are answered whole). */
const BATCH_ITEM_KEYS = new Set(["openai_route", "openai_input", "messages", "prompt", "sampling_params", "model", "apply_chat_template", "use_openai_format", "stream"]);

/** vLLM SamplingParams names the engine honours. */
const SAMPLING_KEYS = [
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "seed",
    "stop",
    "ignore_eos",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "n"
] as const;
/** vLLM SamplingParams names accepted and ignored: their vLLM defaults are what the engine does anyway. */
const IGNORED_SAMPLING_KEYS = new Set(["skip_special_tokens", "spaces_between_special_tokens", "detokenize"]);

const MAX_BATCH_ITEMS = 100_000;

function isObject(value: unknown): value is Record<string, unknown> {
    return value !== null && typeof value === "object" && !Array.isArray(value);
}

function joinPath(prefix: string, parts: ReadonlyArray<PropertyKey>): string {
    let path = prefix;
    for (const part of parts) {
        if (typeof part === "number") path += `[${part}]`;
        else path += path === "" ? String(part) : `.${String(part)}`;
    }
    return path;
}

/**
 * Validates with a zod schema; the first problem becomes a JobInputError naming the field's full path.
 * `prefixFor` picks the prefix by the failing top-level field (sampling fields live under sampling_params).
 */
function validate<Schema extends z.ZodType>(schema: Schema, value: unknown, prefix: string, prefixFor?: (field: string) => string): z.infer<Schema> {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    const issue = result.error.issues[0]!;
    const first = issue.path[0];
    const base = prefixFor !== undefined && typeof first === "string" ? prefixFor(first) : prefix;
    const path = joinPath(base, issue.path);
    throw new JobInputError(`${path === "" ? "input" : path}: ${issue.message.replace(/^Invalid input: /, "")}`, path === "" ? undefined : path);
}

/** Runs an OpenAI -> engine converter, reporting its UnsupportedRequestError with the job's path. */
function convert<T>(prefix: string, run: () => T): T {
    try {
        return run();
    } catch (error) {
        if (error instanceof UnsupportedRequestError) {
            const path = error.param !== undefined ? joinPath(prefix, [error.param]) : prefix;
            throw new JobInputError(`${path}: ${error.message}`, path);
        }
        throw error;
    }
}

function modelOf(value: unknown): string | undefined {
    return typeof value === "string" && value !== "" ? value : undefined;
}

interface GenerateOptions {
    includeUsage: boolean;
    style: ResponseStyle;
}

/** A validated chat request as one generation job; conversion errors name `path`. */
function chatJobRequest(request: ChatCompletionRequest, path: string, options: GenerateOptions): JobRequest {
    return {
        kind: "generate",
        route: "/v1/chat/completions",
        model: modelOf(request.model),
        jobs: [{ kind: "chat", request: convert(path, () => toChatGenerationRequest(request)) }],
        prompts: [],
        echo: false,
        ...options
    };
}

/** A validated completion request as one generation job per prompt; conversion errors name `path`. */
function completionJobRequest(request: CompletionRequest, path: string, options: GenerateOptions & { echo: boolean }): JobRequest {
    const converted = convert(path, () => toTextGenerationRequests(request));
    return {
        kind: "generate",
        route: "/v1/completions",
        model: modelOf(request.model),
        jobs: converted.map((item) => ({ kind: "completion", request: item })),
        prompts: converted.map((item) => item.prompt),
        ...options
    };
}

/** `{openai_route, openai_input}`: one OpenAI request, validated like the HTTP API validates it. */
function parseOpenAiRequest(route: unknown, body: unknown, prefix: string): JobRequest {
    const routePath = joinPath(prefix, ["openai_route"]);
    const inputPath = joinPath(prefix, ["openai_input"]);
    if (typeof route !== "string" || !(OPENAI_ROUTES as readonly string[]).includes(route)) {
        throw new JobInputError(`${routePath}: expected one of ${OPENAI_ROUTES.join(", ")}${typeof route === "string" ? ` (got "${route}")` : ""}`, routePath);
    }
    if (!isObject(body)) throw new JobInputError(`${inputPath}: expected an object (the OpenAI request body for ${route})`, inputPath);
    switch (route as OpenAiRoute) {
        case "/v1/chat/completions": {
            const request = validate(chatCompletionRequestSchema, body, inputPath);
            return chatJobRequest(request, inputPath, { includeUsage: request.stream_options?.include_usage === true, style: "openai" });
        }
        case "/v1/completions": {
            const request = validate(completionRequestSchema, body, inputPath);
            return completionJobRequest(request, inputPath, { echo: request.echo === true, includeUsage: request.stream_options?.include_usage === true, style: "openai" });
        }
        case "/v1/embeddings": {
            const request = validate(embeddingRequestSchema, body, inputPath);
            return {
                kind: "embed",
                route: "/v1/embeddings",
                model: modelOf(request.model),
                inputs: typeof request.input === "string" ? [request.input] : request.input,
                encoding: request.encoding_format ?? "float",
                style: "openai"
            };
        }
    }
}

/** vLLM-style `sampling_params`, checked for unknown names; values are validated with the OpenAI schemas. */
function samplingFields(value: unknown, prefix: string): Record<string, unknown> {
    const path = joinPath(prefix, ["sampling_params"]);
    if (value === undefined || value === null) return {};
    if (!isObject(value)) throw new JobInputError(`${path}: expected an object`, path);
    const fields: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) {
        if (IGNORED_SAMPLING_KEYS.has(key)) continue;
        if (!(SAMPLING_KEYS as readonly string[]).includes(key)) {
            throw new JobInputError(`${path}.${key}: unsupported sampling parameter (supported: ${SAMPLING_KEYS.join(", ")})`, `${path}.${key}`);
        }
        // vLLM uses top_k = -1 for "no limit".
        fields[key] = key === "top_k" && field === -1 ? undefined : field;
    }
    return fields;
}

/** The short form: `messages` or `prompt` with vLLM-style `sampling_params`. */
function parseShortForm(input: Record<string, unknown>, prefix: string): JobRequest {
    if (input.messages !== undefined && input.prompt !== undefined) {
        const path = joinPath(prefix, ["prompt"]);
        throw new JobInputError(`${path}: give either messages or prompt, not both`, path);
    }
    const sampling = samplingFields(input.sampling_params, prefix);
    const style: ResponseStyle = input.use_openai_format === true ? "openai" : "vllm";
    const model = input.model;
    if (model !== undefined && typeof model !== "string") throw new JobInputError(`${joinPath(prefix, ["model"])}: expected a string`, joinPath(prefix, ["model"]));
    // Errors in sampling values name sampling_params.<key>; the others the input's own field.
    const prefixFor = (field: string): string => ((SAMPLING_KEYS as readonly string[]).includes(field) ? joinPath(prefix, ["sampling_params"]) : prefix);
    const chatMessages =
        input.messages !== undefined ? input.messages : input.apply_chat_template === true && typeof input.prompt === "string" ? [{ role: "user", content: input.prompt }] : undefined;
    if (chatMessages !== undefined) {
        const request = validate(chatCompletionRequestSchema, { ...sampling, model, messages: chatMessages }, prefix, prefixFor);
        return chatJobRequest(request, prefix, { includeUsage: false, style });
    }
    const request = validate(completionRequestSchema, { ...sampling, model, prompt: input.prompt }, prefix, prefixFor);
    return completionJobRequest(request, prefix, { echo: false, includeUsage: false, style });
}

/** One line of a batch: `{openai_route, openai_input}`, the short form, or an OpenAI Batch API line. */
export function parseBatchItem(item: unknown, prefix: string): JobRequest {
    if (!isObject(item)) throw new JobInputError(`${prefix}: expected an object (one request)`, prefix);
    if (item.custom_id !== undefined || item.url !== undefined || item.body !== undefined) {
        // OpenAI Batch API: {"custom_id": "...", "method": "POST", "url": "/v1/chat/completions", "body": {...}}
        const customId = item.custom_id;
        if (typeof customId !== "string" || customId === "") {
            throw new JobInputError(`${prefix}.custom_id: expected a non-empty string (OpenAI Batch API line)`, `${prefix}.custom_id`);
        }
        if (item.method !== undefined && item.method !== "POST") throw new JobInputError(`${prefix}.method: only POST is supported`, `${prefix}.method`);
        const request = parseOpenAiRequest(item.url, item.body, prefix);
        return { ...request, customId };
    }
    for (const key of Object.keys(item)) {
        if (key === "batch" || key === "batch_url") throw new JobInputError(`${prefix}.${key}: batches cannot be nested`, `${prefix}.${key}`);
        if (!BATCH_ITEM_KEYS.has(key)) throw new JobInputError(`${prefix}.${key}: unknown field (known: ${[...BATCH_ITEM_KEYS].join(", ")})`, `${prefix}.${key}`);
    }
    return parseRequest(item, prefix);
}

function parseRequest(input: Record<string, unknown>, prefix: string): JobRequest {
    const hasOpenAi = input.openai_route !== undefined || input.openai_input !== undefined;
    const hasShort = input.messages !== undefined || input.prompt !== undefined;
    if (hasOpenAi && hasShort) {
        const path = joinPath(prefix, ["openai_input"]);
        throw new JobInputError(`${path}: give either openai_route + openai_input or messages/prompt, not both`, path);
    }
    if (hasOpenAi) {
        if (input.sampling_params !== undefined) {
            const path = joinPath(prefix, ["sampling_params"]);
            throw new JobInputError(`${path}: not used with openai_input; put the sampling fields in openai_input`, path);
        }
        return parseOpenAiRequest(input.openai_route, input.openai_input, prefix);
    }
    if (hasShort) return parseShortForm(input, prefix);
    throw new JobInputError(
        `${prefix === "" ? "input" : prefix}: expected one of: openai_route + openai_input, messages, prompt, batch, batch_url`,
        prefix === "" ? undefined : prefix
    );
}

function parseOutputMode(value: unknown): OutputMode | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string" || !(OUTPUT_MODES as readonly string[]).includes(value)) {
        throw new JobInputError(`output: expected one of ${OUTPUT_MODES.join(", ")}`, "output");
    }
    return value as OutputMode;
}

function parseOptions(input: Record<string, unknown>): JobOptions {
    if (input.stream !== undefined && typeof input.stream !== "boolean") throw new JobInputError("stream: expected true or false", "stream");
    const openAiStream = isObject(input.openai_input) && input.openai_input.stream === true;
    const batchSize = input.max_batch_size;
    if (batchSize !== undefined && (typeof batchSize !== "number" || !Number.isInteger(batchSize) || batchSize < 1)) {
        throw new JobInputError("max_batch_size: expected a positive integer (deltas per streamed output)", "max_batch_size");
    }
    return { stream: input.stream === true || openAiStream, output: parseOutputMode(input.output), streamBatchSize: batchSize ?? 1 };
}

/** The schemes a `batch_url` may use. */
export function isBatchUrl(url: string): boolean {
    return /^(https?:\/\/|s3:\/\/|gs:\/\/)/i.test(url);
}

/** Results of parseJobInput, so that an already parsed input is told apart from a raw one without trusting its shape. */
const parsedInputs = new WeakSet<object>();

export function isParsedJobInput(value: unknown): value is ParsedJobInput {
    return typeof value === "object" && value !== null && parsedInputs.has(value);
}

/**
 * Validates a job's input (SERVICE.md "Job input") and converts every request to engine requests, so a bad
 * job is refused before it is queued. Throws JobInputError naming the field.
 */
export function parseJobInput(input: unknown): ParsedJobInput {
    const parsed = parseInput(input);
    parsedInputs.add(parsed);
    return parsed;
}

function parseInput(input: unknown): ParsedJobInput {
    if (!isObject(input)) throw new JobInputError('input: expected an object, e.g. {"prompt": "Hello", "sampling_params": {"max_tokens": 16}}');
    for (const key of Object.keys(input)) {
        if (!TOP_LEVEL_KEYS.has(key)) throw new JobInputError(`input.${key}: unknown field (known: ${[...TOP_LEVEL_KEYS].join(", ")})`, key);
    }
    const options = parseOptions(input);
    const forms = ["batch", "batch_url"].filter((key) => input[key] !== undefined);
    if (forms.length > 0) {
        const conflicting = ["openai_route", "openai_input", "messages", "prompt", ...forms.slice(1)].find((key) => input[key] !== undefined);
        if (conflicting !== undefined) throw new JobInputError(`${conflicting}: not allowed together with ${forms[0]}`, conflicting);
    }
    if (input.batch !== undefined) {
        const batch = input.batch;
        if (!Array.isArray(batch) || batch.length === 0) throw new JobInputError("batch: expected a non-empty list of requests", "batch");
        if (batch.length > MAX_BATCH_ITEMS) throw new JobInputError(`batch: at most ${MAX_BATCH_ITEMS} requests per job`, "batch");
        return { kind: "batch", requests: batch.map((item, index) => parseBatchItem(item, `batch[${index}]`)), ...options };
    }
    if (input.batch_url !== undefined) {
        const url = input.batch_url;
        if (typeof url !== "string" || !isBatchUrl(url)) throw new JobInputError("batch_url: expected an https://, http://, s3:// or gs:// URL of a JSONL file", "batch_url");
        return { kind: "batchUrl", url, ...options };
    }
    return { kind: "single", request: parseRequest(input, ""), ...options };
}

/** Parses a JSONL batch document: one request a line, blank lines skipped. Throws naming the line. */
export function parseBatchLines(text: string, source: string): JobRequest[] {
    const requests: JobRequest[] = [];
    const lines = text.split("\n");
    for (const [index, raw] of lines.entries()) {
        const line = raw.trim();
        if (line === "") continue;
        let item: unknown;
        try {
            item = JSON.parse(line) as unknown;
        } catch (error) {
            throw new JobInputError(`batch_url ${source} line ${index + 1}: not valid JSON (${(error as Error).message})`, "batch_url");
        }
        requests.push(parseBatchItem(item, `batch_url line ${index + 1}`));
        if (requests.length > MAX_BATCH_ITEMS) throw new JobInputError(`batch_url ${source}: more than ${MAX_BATCH_ITEMS} requests`, "batch_url");
    }
    if (requests.length === 0) throw new JobInputError(`batch_url ${source}: no requests (the file is empty)`, "batch_url");
    return requests;
}
