import { InvalidArgumentError, type Command } from "commander";
import { loadConfig } from "../../config/loadConfig.js";
import type { SqliteDatabase } from "../../db/openDatabase.js";
import { pullModel, type PullResult } from "../../models/download/pullModel.js";
import { sourceSettingsFromConfig } from "../../models/download/sourceSettingsFromConfig.js";
import { formatBytes } from "../format.js";
import { configCliOptions } from "../globalOptions.js";
import { openCacheDatabase } from "../openCacheDatabase.js";
import { createDownloadReporter } from "../progress/createDownloadReporter.js";
import { reportError } from "../reportError.js";

interface PullOptions {
    name?: string;
    sha256?: string;
    force?: boolean;
    json?: boolean;
    retries?: number;
}

function parseSha256(value: string): string {
    const normalized = value.trim().toLowerCase().replace(/^sha256:/, "");
    if (!/^[0-9a-f]{64}$/.test(normalized)) throw new InvalidArgumentError("expected 64 hex digits");
    return normalized;
}

function parseRetries(value: string): number {
    const count = Number(value);
    if (!Number.isInteger(count) || count < 0 || count > 100) throw new InvalidArgumentError("expected an integer 0-100");
    return count;
}

export function registerModelsPullCommand(models: Command): void {
    models
        .command("pull")
        .description("download a model (https://, hf:owner/repo/file.gguf, hf:owner/repo:QUANT, s3://, gs://) into the models directory")
        .argument("<uri>", "where to download from")
        .option("--name <id>", "save as <id>.gguf (default: the file name in the URI)")
        .option("--sha256 <hex>", "expected sha256; a download with other bytes is refused", parseSha256)
        .option("--force", "replace an existing file with different content")
        .option("--retries <n>", "retries after transient failures (default 5)", parseRetries)
        .option("--json", "NDJSON progress and result on stdout (the default when stdout is not a terminal)")
        .action(async (uri: string, options: PullOptions, command: Command) => {
            process.exitCode = await pull(uri, options, command);
        });
}

async function pull(uri: string, options: PullOptions, command: Command): Promise<number> {
    const controller = new AbortController();
    const onSignal = (): void => controller.abort(new Error("interrupted; run the same command again to resume the download"));
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    const json = options.json === true || process.stdout.isTTY !== true;
    const reporter = createDownloadReporter({ json, stream: process.stdout });
    let db: SqliteDatabase | undefined;
    try {
        const config = loadConfig({ cli: configCliOptions(command) });
        db = openCacheDatabase(config);
        const result = await pullModel({
            uri,
            modelsDir: config.modelsDir,
            settings: sourceSettingsFromConfig(config),
            db,
            name: options.name,
            expectedSha256: options.sha256,
            force: options.force,
            offline: config.offline,
            signal: controller.signal,
            onEvent: (event) => reporter.onEvent(event),
            tuning: options.retries !== undefined ? { maxAttempts: options.retries + 1 } : undefined
        });
        reporter.finish();
        process.stdout.write(json ? `${JSON.stringify({ type: "result", ...summary(result) })}\n` : describe(result));
        return 0;
    } catch (error) {
        reporter.finish();
        if (json) process.stdout.write(`${JSON.stringify({ type: "error", error: (error as Error).message })}\n`);
        return reportError(error);
    } finally {
        db?.close();
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
    }
}

function summary(result: PullResult): Record<string, string | number> {
    return { id: result.id, file: result.file, path: result.path, sha256: result.sha256, size: result.size, status: result.status, source: result.source, resumedFrom: result.resumedFrom };
}

function describe(result: PullResult): string {
    const what = result.status === "present" ? "already present" : result.resumedFrom > 0 ? `downloaded (resumed at ${formatBytes(result.resumedFrom)})` : "downloaded";
    return `${result.id}: ${what}: ${result.path} (${formatBytes(result.size)}, sha256 ${result.sha256})\n`;
}
