import { InvalidArgumentError, Option, type Command } from "commander";
import { ConfigError } from "../../config/ConfigError.js";
import { loadConfig, type ServiceConfig } from "../../config/loadConfig.js";
import { createJobDeps } from "../../jobs/createJobDeps.js";
import { runJobOnce } from "../../jobs/runJobOnce.js";
import type { JobHandler } from "../../jobs/worker/JobHandler.js";
import { findTestInput, TEST_INPUT_FILE, type TestInput } from "../../jobs/worker/readTestInput.js";
import { RunPodHttpQueue } from "../../jobs/worker/RunPodHttpQueue.js";
import { RunPodWorker } from "../../jobs/worker/RunPodWorker.js";
import { hasRunPodQueue, readRunPodWorkerSettings } from "../../jobs/worker/RunPodWorkerSettings.js";
import type { MentatorService } from "../../service/MentatorService.js";
import { createLogger, type Logger } from "../../util/logger.js";
import { abortOnSignals } from "../abortOnSignals.js";
import { createCommandService } from "../createCommandService.js";
import { EXIT_FAILURE, EXIT_OK } from "../exitCodes.js";
import { configCliOptions } from "../globalOptions.js";
import { reportError } from "../reportError.js";

interface WorkerOptions {
    testInput?: string;
    /** RunPod's own spelling of the flag (`--test_input`), accepted too. */
    test_input?: string;
    concurrency?: number;
}

function parseConcurrency(value: string): number {
    const count = Number(value);
    if (!Number.isInteger(count) || count < 1 || count > 256) throw new InvalidArgumentError("expected a whole number 1-256");
    return count;
}

export function registerWorkerCommand(program: Command): void {
    program
        .command("worker")
        .description(
            "RunPod Serverless queue worker: takes jobs from RUNPOD_WEBHOOK_GET_JOB, posts results to RUNPOD_WEBHOOK_POST_OUTPUT; " +
                `without RUNPOD_WEBHOOK_GET_JOB (or with --test-input) runs one local test job (--test-input or ./${TEST_INPUT_FILE}) and exits`
        )
        .option("--test-input <json>", 'run this job once ({"input": {...}}), print the result and exit 0 (or 1 on failure)')
        .addOption(new Option("--test_input <json>").hideHelp())
        .option("--concurrency <n>", "jobs run at once (default: jobs.concurrency, env MENTATOR_JOBS_CONCURRENCY)", parseConcurrency)
        .action(async (options: WorkerOptions, command: Command) => {
            process.exitCode = await worker(options, command);
        });
}


/** Loads the default model before work is taken, so a broken model fails the worker instead of every job. */
async function startService(config: ServiceConfig, log: Logger): Promise<MentatorService> {
    const service = await createCommandService(config, log);
    try {
        service.startDefaultModel();
        const supply = await service.supply.run();
        if (!supply.ok) throw new Error(supply.reason);
        const id = service.defaultModelId();
        if (id === undefined) throw new Error(service.readiness().reason ?? "no default model");
        await service.pool.preload(id);
        log.info({ model: id }, "default model loaded");
        return service;
    } catch (error) {
        await service.stop();
        throw error;
    }
}

/** Runs a job through runJobOnce; the job's `output` is what the sink returned. */
function createHandler(service: MentatorService, config: ServiceConfig): JobHandler {
    const deps = createJobDeps(service);
    return async (job, options) => {
        const policy = (job as { policy?: { executionTimeout?: unknown } }).policy;
        const executionTimeoutMs = typeof policy?.executionTimeout === "number" ? policy.executionTimeout : config.jobs.executionTimeoutMs;
        const result = await runJobOnce(job.input, deps, { ...options, jobId: job.id, executionTimeoutMs });
        return result.output;
    };
}

async function worker(options: WorkerOptions, command: Command): Promise<number> {
    let config: ServiceConfig;
    let testInput: TestInput | undefined;
    try {
        config = loadConfig({ cli: configCliOptions(command) });
        if (options.concurrency !== undefined) config = { ...config, jobs: { ...config.jobs, concurrency: options.concurrency } };
        const flag = options.testInput ?? options.test_input;
        // RunPod's rule: a test input, or no queue URL, means local test mode.
        if (flag !== undefined || !hasRunPodQueue(process.env)) {
            testInput = findTestInput(flag, process.cwd());
            if (testInput === undefined) {
                throw new ConfigError([
                    `RUNPOD_WEBHOOK_GET_JOB is not set and there is no test input: run on RunPod Serverless, pass --test-input '{"input": {...}}', or create ./${TEST_INPUT_FILE}`
                ]);
            }
        }
    } catch (error) {
        return reportError(error);
    }
    const log = createLogger(config.logLevel, { service: "mentator", command: "worker" });
    return testInput !== undefined ? runTestJob(testInput, config, log) : runQueueWorker(config, log);
}

/** Local test mode: one job, the result on stdout as `{"id", "status", "output"}`; exit 0, or 1 with the error on stderr. */
async function runTestJob(testInput: TestInput, config: ServiceConfig, log: Logger): Promise<number> {
    const interrupt = abortOnSignals();
    let service: MentatorService | undefined;
    try {
        log.info({ source: testInput.source, jobId: testInput.job.id }, "local test mode: running one job");
        service = await startService(config, log);
        const output = await createHandler(service, config)(testInput.job, { signal: interrupt.signal });
        process.stdout.write(`${JSON.stringify({ id: testInput.job.id, status: "COMPLETED", output })}\n`);
        return EXIT_OK;
    } catch (error) {
        process.stderr.write(`mentator: job ${testInput.job.id} failed: ${error instanceof Error ? error.message : String(error)}\n`);
        return EXIT_FAILURE;
    } finally {
        await service?.stop();
        interrupt.dispose();
    }
}

/** Queue mode: take jobs until SIGTERM/SIGINT, then finish (or hand back) the jobs in flight and exit 0. */
async function runQueueWorker(config: ServiceConfig, log: Logger): Promise<number> {
    let worker: RunPodWorker | undefined;
    let stopRequested = false;
    const onSignal = (signal: NodeJS.Signals): void => {
        if (stopRequested) {
            process.stderr.write(`mentator: second ${signal}, exiting now\n`);
            process.exit(EXIT_FAILURE);
        }
        stopRequested = true;
        log.info({ signal }, "stop requested");
        worker?.stop();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    let service: MentatorService | undefined;
    try {
        const settings = readRunPodWorkerSettings(process.env);
        log.info(
            {
                workerId: settings.workerId,
                concurrency: config.jobs.concurrency,
                pingIntervalMs: settings.pingUrl !== undefined ? settings.pingIntervalMs : 0,
                streaming: settings.jobStreamUrl !== undefined,
                outputMode: config.jobs.outputMode
            },
            "RunPod worker starting"
        );
        if (settings.pingUrl === undefined) log.warn("RUNPOD_WEBHOOK_PING is not set: no heartbeats will be sent");
        if (settings.apiKey === undefined) log.warn("RUNPOD_AI_API_KEY is not set: requests to the queue carry no Authorization header");
        service = await startService(config, log);
        if (stopRequested) return EXIT_OK;
        worker = new RunPodWorker({
            queue: new RunPodHttpQueue(settings),
            handler: createHandler(service, config),
            log,
            concurrency: config.jobs.concurrency,
            pingIntervalMs: settings.pingUrl !== undefined ? settings.pingIntervalMs : 0,
            shutdownGraceMs: config.limits.shutdownTimeoutMs
        });
        await worker.run();
        return EXIT_OK;
    } catch (error) {
        return reportError(error);
    } finally {
        // Jobs are finished or handed back by now; release the model and the database.
        await service?.stop();
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
    }
}
