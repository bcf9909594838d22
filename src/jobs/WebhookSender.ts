import { retryWithBackoff } from "../util/retryWithBackoff.js";
import type { Logger } from "../util/logger.js";
import { jobStatusBody } from "./jobStatusBody.js";
import type { JobRecord, JobStore } from "./JobStore.js";

export interface WebhookSenderOptions {
    store: JobStore;
    log: Logger;
    /** Deliveries tried per job, the first included. */
    attempts: number;
    /** Wait before the first retry; it doubles for each further one. */
    retryBaseMs: number;
    /** Per-attempt limit for the whole POST. */
    timeoutMs: number;
}

/** Non-2xx answers worth another try; other 4xx mean the receiver refuses the body for good. */
class WebhookHttpError extends Error {
    public readonly retryable: boolean;

    public constructor(status: number) {
        super(`webhook answered HTTP ${status}`);
        this.name = "WebhookHttpError";
        this.retryable = status >= 500 || status === 408 || status === 429;
    }
}

/**
 * POSTs a finished job's status body to its `webhook`, retrying with exponential backoff. The delivery state is
 * stored with the job, so deliveries cut short by a restart are made at the next start.
 */
export class WebhookSender {
    private readonly options: WebhookSenderOptions;
    private readonly shutdown = new AbortController();
    private readonly inFlight = new Set<Promise<void>>();
    private readonly sending = new Set<string>();

    public constructor(options: WebhookSenderOptions) {
        this.options = options;
    }

    /** Sends in the background; never throws. */
    public deliver(job: JobRecord): void {
        if (job.webhook === undefined || this.shutdown.signal.aborted || this.sending.has(job.id)) return;
        this.sending.add(job.id);
        const delivery = this.send(job, job.webhook).finally(() => {
            this.sending.delete(job.id);
            this.inFlight.delete(delivery);
        });
        this.inFlight.add(delivery);
    }

    /** Resumes deliveries a previous run did not finish. */
    public resumePending(): void {
        for (const job of this.options.store.pendingWebhooks()) this.deliver(job);
    }

    /** Stops retrying; undelivered webhooks stay pending for the next start. */
    public async stop(): Promise<void> {
        this.shutdown.abort(new Error("shutting down"));
        await Promise.allSettled([...this.inFlight]);
    }

    private async send(job: JobRecord, url: string): Promise<void> {
        const { store, log } = this.options;
        const body = JSON.stringify(jobStatusBody(job));
        try {
            await retryWithBackoff(
                async () => {
                    const response = await fetch(url, {
                        method: "POST",
                        headers: { "content-type": "application/json", "user-agent": "mentator-llm-service" },
                        body,
                        signal: AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(this.options.timeoutMs)])
                    });
                    await response.body?.cancel().catch(() => undefined);
                    if (!response.ok) throw new WebhookHttpError(response.status);
                },
                {
                    retries: this.options.attempts - 1,
                    baseDelayMs: this.options.retryBaseMs,
                    signal: this.shutdown.signal,
                    isRetryable: (error) => !(error instanceof WebhookHttpError) || error.retryable,
                    onRetry: (error, attempt, delayMs) => log.warn({ job: job.id, attempt, delayMs, err: (error as Error).message }, "webhook delivery failed; retrying")
                }
            );
            store.setWebhookState(job.id, "delivered");
            log.debug({ job: job.id }, "webhook delivered");
        } catch (error) {
            if (this.shutdown.signal.aborted) return;
            store.setWebhookState(job.id, "failed");
            log.warn({ job: job.id, err: (error as Error).message }, "webhook not delivered; giving up");
        }
    }
}
