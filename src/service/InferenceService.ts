import type { RequestLog } from "../db/RequestLog.js";
import { ContextLengthExceededError, QueueFullError, RequestTimeoutError } from "../engine/engineErrors.js";
import type { Scheduler } from "../engine/Scheduler.js";
import type {
    ChatGenerationRequest,
    EmbeddingResult,
    GenerationDelta,
    GenerationResult,
    LoadedModel,
    TextGenerationRequest
} from "../engine/types.js";
import type { ServiceMetrics } from "../metrics/ServiceMetrics.js";

export type GenerationJob = { kind: "chat"; request: ChatGenerationRequest } | { kind: "completion"; request: TextGenerationRequest };

export interface GenerationHooks {
    /** The request got a sequence and the engine started (before the prompt is processed). */
    onStart?(): void;
    /** `jobIndex` tells which of generateMany's jobs produced the delta. */
    onDelta?(delta: GenerationDelta, jobIndex: number): void;
}

export interface RequestMeta {
    requestId: string;
    route: string;
    stream: boolean;
}

/**
 * Runs inference requests through the scheduler and records what happened: metrics, the request log.
 * Used by the OpenAI routes and the job runner alike.
 */
export class InferenceService {
    public constructor(
        private readonly scheduler: Scheduler,
        private readonly metrics: ServiceMetrics,
        private readonly requestLog: RequestLog
    ) {}

    public async generate(modelId: string, job: GenerationJob, hooks: GenerationHooks, signal: AbortSignal, meta: RequestMeta): Promise<GenerationResult> {
        const results = await this.generateMany(modelId, [job], hooks, signal, meta);
        return results[0]!;
    }

    /** Several generations on one model, one after another on a single sequence (a multi-prompt completion). */
    public async generateMany(modelId: string, jobs: GenerationJob[], hooks: GenerationHooks, signal: AbortSignal, meta: RequestMeta): Promise<GenerationResult[]> {
        const arrived = performance.now();
        let firstTokenAt: number | undefined;
        let lastTokenAt: number | undefined;
        let queueSeconds: number | undefined;
        const results: GenerationResult[] = [];
        try {
            const slot = await this.admit(modelId, signal);
            queueSeconds = slot.queueSeconds;
            this.metrics.queueTime.observe({ model: modelId }, slot.queueSeconds);
            try {
                hooks.onStart?.();
                for (const [jobIndex, job] of jobs.entries()) {
                    const callbacks = {
                        streamed: hooks.onDelta !== undefined,
                        onDelta: (delta: GenerationDelta) => {
                            const now = performance.now();
                            firstTokenAt ??= now;
                            lastTokenAt = now;
                            hooks.onDelta?.(delta, jobIndex);
                        }
                    };
                    results.push(await this.run(slot.model, job, callbacks, slot.signal));
                }
            } finally {
                slot.release();
            }
        } catch (error) {
            this.recordFailure(modelId, error, meta, arrived, queueSeconds);
            throw error;
        }
        const finished = performance.now();
        const promptTokens = results.reduce((sum, result) => sum + result.promptTokens, 0);
        const completionTokens = results.reduce((sum, result) => sum + result.completionTokens, 0);
        this.metrics.promptTokens.inc({ model: modelId }, promptTokens);
        this.metrics.generationTokens.inc({ model: modelId }, completionTokens);
        for (const result of results) this.metrics.requestSuccess.inc({ model: modelId, finished_reason: result.finishReason });
        this.metrics.e2eLatency.observe({ model: modelId }, (finished - arrived) / 1000);
        if (firstTokenAt !== undefined) this.metrics.timeToFirstToken.observe({ model: modelId }, (firstTokenAt - arrived) / 1000);
        if (firstTokenAt !== undefined && lastTokenAt !== undefined && completionTokens > 1) {
            this.metrics.timePerOutputToken.observe({ model: modelId }, (lastTokenAt - firstTokenAt) / 1000 / (completionTokens - 1));
        }
        this.requestLog.record({
            ...meta,
            model: modelId,
            status: 200,
            promptTokens,
            completionTokens,
            queueMs: (queueSeconds ?? 0) * 1000,
            ttftMs: firstTokenAt !== undefined ? firstTokenAt - arrived : undefined,
            durationMs: finished - arrived,
            finishReason: results.map((result) => result.finishReason).join(",")
        });
        return results;
    }

    public async embed(modelId: string, inputs: string[], signal: AbortSignal, meta: RequestMeta): Promise<EmbeddingResult> {
        const arrived = performance.now();
        let queueSeconds: number | undefined;
        try {
            const slot = await this.admit(modelId, signal);
            queueSeconds = slot.queueSeconds;
            try {
                const result = await slot.model.embed(inputs, slot.signal);
                this.metrics.promptTokens.inc({ model: modelId }, result.promptTokens);
                this.requestLog.record({
                    ...meta,
                    model: modelId,
                    status: 200,
                    promptTokens: result.promptTokens,
                    queueMs: slot.queueSeconds * 1000,
                    durationMs: performance.now() - arrived
                });
                return result;
            } finally {
                slot.release();
            }
        } catch (error) {
            this.recordFailure(modelId, error, meta, arrived, queueSeconds);
            throw error;
        }
    }

    private async admit(modelId: string, signal: AbortSignal) {
        try {
            return await this.scheduler.acquire(modelId, signal);
        } catch (error) {
            if (error instanceof QueueFullError) this.metrics.queueRejections.inc({ model: modelId });
            throw error;
        }
    }

    private run(model: LoadedModel, job: GenerationJob, callbacks: { onDelta(delta: GenerationDelta): void }, signal: AbortSignal) {
        return job.kind === "chat" ? model.chat(job.request, callbacks, signal) : model.complete(job.request, callbacks, signal);
    }

    private recordFailure(modelId: string, error: unknown, meta: RequestMeta, arrived: number, queueSeconds: number | undefined): void {
        const reason =
            error instanceof QueueFullError
                ? "queue_full"
                : error instanceof RequestTimeoutError
                  ? "timeout"
                  : error instanceof ContextLengthExceededError
                    ? "context_length"
                    : (error as Error).name === "AbortError" || (error as Error).name === "ClientAbortError"
                      ? "aborted"
                      : "error";
        if (reason !== "queue_full") this.metrics.requestFailures.inc({ model: modelId, reason });
        this.requestLog.record({
            ...meta,
            model: modelId,
            status: reason === "queue_full" ? 503 : reason === "timeout" ? 504 : reason === "context_length" ? 400 : reason === "aborted" ? 499 : 500,
            queueMs: queueSeconds !== undefined ? queueSeconds * 1000 : undefined,
            durationMs: performance.now() - arrived,
            error: (error as Error).message
        });
    }
}
