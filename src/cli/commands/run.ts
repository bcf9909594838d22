import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Option, type Command } from "commander";
import { loadConfig } from "../../config/loadConfig.js";
import { createJobDeps } from "../../jobs/createJobDeps.js";
import { JobInputError } from "../../jobs/JobInputError.js";
import { jobRequestSchema } from "../../jobs/jobRequestSchema.js";
import { parseJobInput } from "../../jobs/parseJobInput.js";
import { runJobOnce } from "../../jobs/runJobOnce.js";
import type { MentatorService } from "../../service/MentatorService.js";
import { createOutputSink } from "../../storage/createOutputSink.js";
import type { OutputMode, SinkResult } from "../../storage/OutputSink.js";
import { createLogger } from "../../util/logger.js";
import { abortOnSignals } from "../abortOnSignals.js";
import { createCommandService } from "../createCommandService.js";
import { EXIT_OK, EXIT_USAGE } from "../exitCodes.js";
import { configCliOptions, type GlobalOptions } from "../globalOptions.js";
import { reportError } from "../reportError.js";

interface RunOptions {
    job: string;
    lock?: string;
    output?: OutputMode;
}

export function registerRunCommand(program: Command): void {
    program
        .command("run")
        .description("run one job with no server and print its output (base64 string, object URI, or JSON for inline)")
        .requiredOption("--job <file>", 'job file ({"input": {...}} as sent to /run), or - for stdin')
        .option("--lock <file>", "verify the models against this lock file before loading (default: LOCK_PATH, else <models-dir>/mentator.lock.json if present)")
        .addOption(new Option("--output <mode>", "output mode (default: the job's output, else OUTPUT_MODE, else inline)").choices(["inline", "base64", "s3", "gcs"]))
        .action(async (options: RunOptions, command: Command) => {
            process.exitCode = await runJob(options, command);
        });
}

async function readJobText(file: string): Promise<string> {
    if (file !== "-") return readFile(resolve(file), "utf8");
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
    return Buffer.concat(chunks).toString("utf8");
}

/** Reads and validates the job file; throws JobInputError naming the file. */
async function readJob(file: string) {
    const name = file === "-" ? "stdin" : file;
    let text: string;
    try {
        text = await readJobText(file);
    } catch (error) {
        throw new JobInputError(`job file ${name}: cannot read: ${(error as Error).message}`);
    }
    let value: unknown;
    try {
        value = JSON.parse(text) as unknown;
    } catch (error) {
        throw new JobInputError(`job file ${name}: not valid JSON (${(error as Error).message}); expected {"input": {...}}`);
    }
    const result = jobRequestSchema.safeParse(value);
    if (!result.success) {
        const issue = result.error.issues[0]!;
        const path = issue.path.map(String).join(".");
        throw new JobInputError(`job file ${name}: ${path === "" ? "" : `${path}: `}${issue.message.replace(/^Invalid input: /, "")}; expected {"input": {...}}`);
    }
    try {
        return { request: result.data, parsed: parseJobInput(result.data.input) };
    } catch (error) {
        if (error instanceof JobInputError) throw new JobInputError(`job file ${name}: ${error.message}`, error.param);
        throw error;
    }
}


function printOutput(result: SinkResult): void {
    switch (result.mode) {
        case "base64":
            process.stdout.write(`${result.output}\n`);
            return;
        case "s3":
        case "gcs":
            process.stdout.write(`${result.output.uri}\n${result.output.url !== undefined ? `${result.output.url}\n` : ""}`);
            return;
        case "inline":
            process.stdout.write(`${JSON.stringify(result.output)}\n`);
            return;
    }
}

async function runJob(options: RunOptions, command: Command): Promise<number> {
    const interrupt = abortOnSignals();
    let service: MentatorService | undefined;
    try {
        const job = await readJob(options.job);
        let config = loadConfig({ cli: configCliOptions(command) });
        if (options.lock !== undefined) config = { ...config, lockFile: options.lock, lockPath: resolve(options.lock), lockPathExplicit: true };
        const verbose = command.optsWithGlobals<GlobalOptions>().verbose === true;
        // stdout carries the output alone; logs go to stderr, and only when asked for.
        const log = createLogger(verbose ? "debug" : "silent", { service: "mentator", command: "run" });
        // The operator's flag wins over the job's own choice (request `output`, then `input.output`).
        const mode = options.output ?? job.request.output ?? job.parsed.output ?? config.jobs.outputMode;
        // A sink that is not configured fails now, before a model is loaded.
        await createOutputSink(mode, config, { log });

        service = await createCommandService(config, log);
        service.startDefaultModel();
        const supply = await service.supply.run();
        if (!supply.ok) throw new Error(supply.reason);
        interrupt.signal.throwIfAborted();
        const result = await runJobOnce(job.parsed, createJobDeps(service), {
            signal: interrupt.signal,
            output: mode,
            executionTimeoutMs: job.request.policy?.executionTimeout ?? config.jobs.executionTimeoutMs
        });
        log.debug({ sink: result.sinkResult.mode, bytes: Buffer.byteLength(result.document.body) }, "job completed");
        printOutput(result.sinkResult);
        return EXIT_OK;
    } catch (error) {
        if (error instanceof JobInputError) {
            process.stderr.write(`mentator: ${error.message}\n`);
            return EXIT_USAGE;
        }
        return reportError(error);
    } finally {
        await service?.stop();
        interrupt.dispose();
    }
}
