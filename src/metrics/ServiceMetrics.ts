import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** Prometheus metrics of the service; names follow vLLM's where an equivalent exists (`mentator:` prefix). */
export class ServiceMetrics {
    public readonly registry = new Registry();
    public readonly modelLoadSeconds: Histogram<"model">;
    public readonly modelsLoaded: Gauge;
    public readonly modelLoadFailures: Counter<"model">;

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
    }

    private loadedModelsSource: () => number = () => 0;

    /** Where the models-loaded gauge reads its value at scrape time. */
    public observeLoadedModels(source: () => number): void {
        this.loadedModelsSource = source;
    }

    public async render(): Promise<{ contentType: string; body: string }> {
        return { contentType: this.registry.contentType, body: await this.registry.metrics() };
    }
}
