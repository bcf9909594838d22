import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { QueueFullError } from "../engine/engineErrors.js";
import type { GenerationResult } from "../engine/types.js";
import { assertSafeModelId } from "../models/resolveModelPath.js";
import { embeddingList, type ResponseIdentity } from "../openai/openAiResponses.js";
import type { InferenceService, RequestMeta } from "../service/InferenceService.js";
import type { JobDocument, OutputMode, OutputSink, SinkResult } from "../storage/OutputSink.js";
import { describeJobError } from "./describeJobError.js";
import { JobInputError } from "./JobInputError.js";
import { generationResponse, StreamChunker } from "./jobResponses.js";
import { JobTimeoutError } from "./JobTimeoutError.js";
import { isParsedJobInput, parseBatchLines, parseJobInput, type JobRequest, type ParsedJobInput } from "./parseJobInput.js";
import type { JobInput, JobRunOptions } from "./types.js";

/** What running a job needs: the inference service, a default model, output sinks, a reader for batch_url. */
export interface JobDeps {
    inference: Pick<InferenceService, "generateMany" | "embed">;
    /** The model for requests that name none; undefined when there is none. */
    defaultModelId(): string | undefined;
    /** Why there is no default model (for the error message). */
    noDefaultModelReason?(): string | undefined;
    /** The sink for an output mode; rejects (StorageConfigError) when that mode is not configured. */
    createSink(mode: OutputMode): Promise<OutputSink>;
    /** Mode when neither the caller nor the input asks for one (config jobs.outputMode / OUTPUT_MODE). */
    defaultOutputMode: OutputMode;
    /** Reads a batch_url document (https://, s3://, gs://) as text. */
    readBatchUrl(url: string, signal: AbortSignal): Promise<string>;
    /** Requests of one batch that run at the same time. Default 4. */
    batchConcurrency?: number;
}

export interface RunJobOnceOptions extends JobRunOptions {
    /** Job id (object keys, response ids). Default: a random UUID. */
    jobId?: string;
    /** Job creation time (object keys). Default: now. */
    createdAt?: Date;
    /** Ends the job with JobTimeoutError after this long. Default: no limit. */
    executionTimeoutMs?: number;
}

export interface JobResult {
    /** The job's `output` field: what the sink returned. */
    output: unknown;
    sinkResult: SinkResult;
    document: JobDocument;
}

const QUEUE_RETRY_MS = 500;

/** Parses the input (unless parseJobInput already did); throws JobInputError for bad input. */
function ensureParsed(input: JobInput | ParsedJobInput): ParsedJobInput {
    return isParsedJobInput(input) ? input : parseJobInput(input);
}

/**
 * Runs one job to its output without a server: the entry point of `mentator run`, the RunPod worker and the
 * job runner. Throws JobInputError (bad input), JobTimeoutError (executionTimeoutMs), the signal's reason
 * when aborted, or the error that failed the job.
 */
export async function runJobOnce(input: JobInput | ParsedJobInput, deps: JobDeps, options: RunJobOnceOptions): Promise<JobResult> {
    const timeout = options.executionTimeoutMs !== undefined ? AbortSignal.timeout(options.executionTimeoutMs) : undefined;
    const signal = timeout !== undefined ? AbortSignal.any([options.signal, timeout]) : options.signal;
    const jobId = options.jobId ?? randomUUID();
    try {
        const parsed = ensureParsed(input);
        const mode = options.output ?? parsed.output ?? deps.defaultOutputMode;
        // Resolve the sink first: a mode that is not configured fails before any generation.
        const sink = await deps.createSink(mode);
        const run = new JobExecution(jobId, deps, signal, parsed.stream ? options.onPartial : undefined, parsed.streamBatchSize);
        const document: JobDocument =
            parsed.kind === "single"
                ? { jobId, body: JSON.stringify(await run.single(parsed.request)), format: "json", createdAt: options.createdAt ?? new Date() }
                : {
                      jobId,
                      body: await run.batch(parsed.kind === "batch" ? parsed.requests : await run.fetchBatch(parsed.url)),
                      format: "jsonl",
                      createdAt: options.createdAt ?? new Date()
                  };
        signal.throwIfAborted();
        const sinkResult = await sink.write(document, signal);
        return { output: sinkResult.output, sinkResult, document };
    } catch (error) {
        if (options.signal.aborted) throw options.signal.reason ?? error;
        if (timeout?.aborted === true) throw new JobTimeoutError(options.executionTimeoutMs!);
        throw error;
    }
}

/** The requests of one job run: model choice, queue-full waits, streaming, batches. */
class JobExecution {
    public constructor(
        private readonly jobId: string,
        private readonly deps: JobDeps,
        private readonly signal: AbortSignal,
        private readonly onPartial: ((chunk: unknown) => void) | undefined,
        private readonly streamBatchSize: number
    ) {}

    public async single(request: JobRequest): Promise<unknown> {
        return this.execute(request, this.jobId, this.onPartial);
    }

    public async fetchBatch(url: string): Promise<JobRequest[]> {
        let text: string;
        try {
            text = await this.deps.readBatchUrl(url, this.signal);
        } catch (error) {
            if (this.signal.aborted || error instanceof JobInputError) throw error;
            throw new Error(`cannot read batch_url ${url}: ${(error as Error).message}`, { cause: error });
        }
        return parseBatchLines(text, url);
    }

    /** Runs the requests a few at a time; each gives one JSONL line (its response, or its error). */
    public async batch(requests: JobRequest[]): Promise<string> {
        const lines = new Array<string>(requests.length);
        let failures = 0;
        let firstFailure: { index: number; message: string } | undefined;
        let next = 0;
        const worker = async (): Promise<void> => {
            for (;;) {
                const index = next++;
                if (index >= requests.length) return;
                const request = requests[index]!;
                const requestId = `${this.jobId}-${index}`;
                let line: unknown;
                try {
                    const body = await this.execute(request, requestId, undefined);
                    line = request.customId !== undefined ? { id: `batch_req_${requestId}`, custom_id: request.customId, response: { status_code: 200, request_id: requestId, body }, error: null } : body;
                } catch (error) {
                    if (this.signal.aborted) throw error;
                    failures++;
                    const described = describeJobError(error);
                    if (firstFailure === undefined || index < firstFailure.index) firstFailure = { index, message: described.message };
                    line =
                        request.customId !== undefined
                            ? { id: `batch_req_${requestId}`, custom_id: request.customId, response: null, error: { code: described.code, message: described.message } }
                            : { error: described };
                }
                lines[index] = JSON.stringify(line);
                this.onPartial?.({ index, response: line });
            }
        };
        const workers = Math.max(1, Math.min(this.deps.batchConcurrency ?? 4, requests.length));
        await Promise.all(Array.from({ length: workers }, worker));
        if (failures === requests.length) {
            throw new Error(`all ${requests.length} requests of the batch failed; the first (line ${firstFailure!.index + 1}): ${firstFailure!.message}`);
        }
        return `${lines.join("\n")}\n`;
    }

    private resolveModel(requested: string | undefined): string {
        const id = requested ?? this.deps.defaultModelId();
        if (id === undefined) {
            const reason = this.deps.noDefaultModelReason?.();
            throw new JobInputError(`model: the request names no model and there is no default model${reason !== undefined ? ` (${reason})` : ""}`, "model");
        }
        assertSafeModelId(id);
        return id;
    }

    private async execute(request: JobRequest, requestId: string, onPartial: ((chunk: unknown) => void) | undefined): Promise<unknown> {
        const modelId = this.resolveModel(request.model);
        const meta: RequestMeta = { requestId, route: `job:${request.route}`, stream: onPartial !== undefined };
        if (request.kind === "embed") {
            const result = await this.waitingForRoom(() => this.deps.inference.embed(modelId, request.inputs, this.signal, meta));
            return embeddingList(modelId, result.embeddings, result.promptTokens, request.encoding);
        }
        const identity: ResponseIdentity = {
            id: `${request.route === "/v1/chat/completions" ? "chatcmpl" : "cmpl"}-${requestId}`,
            model: modelId,
            created: Math.floor(Date.now() / 1000)
        };
        const chunker = onPartial !== undefined ? new StreamChunker(request, identity, this.streamBatchSize, onPartial) : undefined;
        const results: GenerationResult[] = await this.waitingForRoom(() =>
            this.deps.inference.generateMany(modelId, request.jobs, { onDelta: (delta, index) => chunker?.onDelta(delta, index) }, this.signal, meta)
        );
        chunker?.finish(results);
        return generationResponse(request, identity, results);
    }

    /** Jobs wait for room instead of failing when the interactive queue is full. */
    private async waitingForRoom<T>(operation: () => Promise<T>): Promise<T> {
        for (;;) {
            try {
                return await operation();
            } catch (error) {
                if (!(error instanceof QueueFullError) || this.signal.aborted) throw error;
                await delay(QUEUE_RETRY_MS * (1 + Math.random()), undefined, { signal: this.signal });
            }
        }
    }
}
