import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** Prometheus metrics of the service; names follow vLLM's where an equivalent exists (`mentator:` prefix). */
export class ServiceMetrics {
    public readonly registry = new Registry();
    public readonly modelLoadSeconds: Histogram<"model">;
    public readonly modelsLoaded: Gauge;
    public readonly modelLoadFailures: Counter<"model">;
    public readonly promptTokens: Counter<"model">;
    public readonly generationTokens: Counter<"model">;
    public readonly requestSuccess: Counter<"model" | "finished_reason">;
    public readonly requestFailures: Counter<"model" | "reason">;
    public readonly queueRejections: Counter<"model">;
    public readonly timeToFirstToken: Histogram<"model">;
    public readonly timePerOutputToken: Histogram<"model">;
    public readonly e2eLatency: Histogram<"model">;
    public readonly queueTime: Histogram<"model">;
    private queueSource: () => Array<{ model: string; running: number; waiting: number }> = () => [];

    public constructor() {
        collectDefaultMetrics({ register: this.registry, prefix: "mentator_process_" });
        this.modelLoadSeconds = new Histogram({
            name: "mentator:model_load_seconds",
            help: "Time to load a model and create its context",
            labelNames: ["model"],
            buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
            registers: [this.registry]
        });
        const metrics = this;
        this.modelsLoaded = new Gauge({
            name: "mentator:models_loaded",
            help: "Models resident in memory",
            registers: [this.registry],
            collect() {
                this.set(metrics.loadedModelsSource());
            }
        });
        this.modelLoadFailures = new Counter({
            name: "mentator:model_load_failures_total",
            help: "Model loads that failed",
            labelNames: ["model"],
            registers: [this.registry]
        });
        const registers = [this.registry];
        const latencyBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320];
        this.promptTokens = new Counter({ name: "mentator:prompt_tokens_total", help: "Prompt tokens processed", labelNames: ["model"], registers });
        this.generationTokens = new Counter({ name: "mentator:generation_tokens_total", help: "Tokens generated", labelNames: ["model"], registers });
        this.requestSuccess = new Counter({
            name: "mentator:request_success_total",
            help: "Requests finished, by finish reason",
            labelNames: ["model", "finished_reason"],
            registers
        });
        this.requestFailures = new Counter({
            name: "mentator:request_failure_total",
            help: "Requests that failed after admission (timeout, abort, error)",
            labelNames: ["model", "reason"],
            registers
        });
        this.queueRejections = new Counter({
            name: "mentator:queue_rejections_total",
            help: "Requests answered 503 because the wait queue was full",
            labelNames: ["model"],
            registers
        });
        this.timeToFirstToken = new Histogram({
            name: "mentator:time_to_first_token_seconds",
            help: "Time from request arrival to the first generated token",
            labelNames: ["model"],
            buckets: [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40],
            registers
        });
        this.timePerOutputToken = new Histogram({
            name: "mentator:time_per_output_token_seconds",
            help: "Mean time between generated tokens of a request",
            labelNames: ["model"],
            buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5],
            registers
        });
        this.e2eLatency = new Histogram({
            name: "mentator:e2e_request_latency_seconds",
            help: "Request latency from arrival to last token",
            labelNames: ["model"],
            buckets: latencyBuckets,
            registers
        });
        this.queueTime = new Histogram({
            name: "mentator:request_queue_time_seconds",
            help: "Time waiting for the model and a free sequence",
            labelNames: ["model"],
            buckets: latencyBuckets,
            registers
        });
        const queues = (): Array<{ model: string; running: number; waiting: number }> => metrics.queueSource();
        new Gauge({
            name: "mentator:num_requests_running",
            help: "Requests generating now",
            labelNames: ["model"],
            registers,
            collect() {
                this.reset();
                for (const queue of queues()) this.set({ model: queue.model }, queue.running);
            }
        });
        new Gauge({
            name: "mentator:num_requests_waiting",
            help: "Requests waiting for a free sequence",
            labelNames: ["model"],
            registers,
            collect() {
                this.reset();
                for (const queue of queues()) this.set({ model: queue.model }, queue.waiting);
            }
        });
    }

    private loadedModelsSource: () => number = () => 0;

    /** Where the models-loaded gauge reads its value at scrape time. */
    public observeLoadedModels(source: () => number): void {
        this.loadedModelsSource = source;
    }

    /** Where the running/waiting gauges read per-model queue sizes at scrape time. */
    public observeQueues(source: () => Array<{ model: string; running: number; waiting: number }>): void {
        this.queueSource = source;
    }

    public async render(): Promise<{ contentType: string; body: string }> {
        return { contentType: this.registry.contentType, body: await this.registry.metrics() };
    }
}
