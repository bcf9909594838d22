import type { ServiceConfig } from "../config/loadConfig.js";
import type { InferenceService } from "../service/InferenceService.js";
import { createOutputSink } from "../storage/createOutputSink.js";
import { readObject } from "../storage/readObject.js";
import type { Logger } from "../util/logger.js";
import type { JobDeps } from "./runJobOnce.js";

/** The parts of the running service a job needs (MentatorService has them all). */
export interface JobServiceParts {
    config: ServiceConfig;
    log: Logger;
    inference: Pick<InferenceService, "generateMany" | "embed">;
    defaultModelId(): string | undefined;
    readiness(): { ready: boolean; reason?: string };
}

/** Wires jobs to the service: its inference, its default model, the configured output sinks and object readers. */
export function createJobDeps(service: JobServiceParts): JobDeps {
    const { config, log } = service;
    return {
        inference: service.inference,
        defaultModelId: () => service.defaultModelId(),
        noDefaultModelReason: () => service.readiness().reason,
        createSink: (mode) => createOutputSink(mode, config, { log }),
        defaultOutputMode: config.jobs.outputMode,
        readBatchUrl: async (url, signal) => (await readObject(url, config, { signal, maxBytes: config.jobs.maxBatchBytes })).toString("utf8"),
        batchConcurrency: config.jobs.batchConcurrency
    };
}
