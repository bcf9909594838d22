import { resolve } from "node:path";
import type { Command } from "commander";
import { loadConfig } from "../../config/loadConfig.js";
import type { SqliteDatabase } from "../../db/openDatabase.js";
import { pullModel } from "../../models/download/pullModel.js";
import { sourceSettingsFromConfig } from "../../models/download/sourceSettingsFromConfig.js";
import { verifyLock, type ModelCheck } from "../../models/lock/verifyLock.js";
import { EXIT_FAILURE, EXIT_OK } from "../exitCodes.js";
import { configCliOptions } from "../globalOptions.js";
import { openCacheDatabase } from "../openCacheDatabase.js";
import { createDownloadReporter } from "../progress/createDownloadReporter.js";
import { reportError } from "../reportError.js";

interface VerifyOptions {
    lock?: string;
    fetch?: boolean;
    strict?: boolean;
    json?: boolean;
}

export function registerModelsVerifyCommand(models: Command): void {
    models
        .command("verify")
        .description("check the models against the lock file: presence, size, sha256 (unchanged files use the hash cache)")
        .option("--lock <file>", "lock file (default: LOCK_PATH, else <models-dir>/mentator.lock.json)")
        .option("--fetch", "download missing models from their source in the lock")
        .option("--strict", "also fail on model files the lock does not list and on engine version differences")
        .option("--json", "print the report as JSON")
        .action(async (options: VerifyOptions, command: Command) => {
            process.exitCode = await verify(options, command);
        });
}

const MARKS: Record<ModelCheck["status"], string> = {
    ok: "ok",
    fetched: "fetched",
    missing: "MISSING",
    size_mismatch: "MISMATCH",
    sha256_mismatch: "MISMATCH",
    fetch_failed: "FAILED",
    invalid: "INVALID"
};

async function verify(options: VerifyOptions, command: Command): Promise<number> {
    const controller = new AbortController();
    const onSignal = (): void => controller.abort(new Error("interrupted"));
    process.once("SIGINT", onSignal);
    let db: SqliteDatabase | undefined;
    try {
        const config = loadConfig({ cli: configCliOptions(command) });
        const lockPath = options.lock !== undefined ? resolve(options.lock) : config.lockPath;
        db = openCacheDatabase(config);
        const human = options.json !== true;
        const settings = sourceSettingsFromConfig(config);
        const report = await verifyLock({
            lockPath,
            modelsDir: config.modelsDir,
            db,
            strict: options.strict,
            signal: controller.signal,
            onHashing: (model) => {
                if (human) process.stderr.write(`hashing ${model.file} ...\n`);
            },
            onCheck: (check) => {
                if (human) process.stdout.write(`${MARKS[check.status].padEnd(8)} ${check.message}\n`);
            },
            fetchModel:
                options.fetch === true
                    ? async (model) => {
                          // Progress goes to stderr so stdout keeps one line per model (or the JSON report).
                          const reporter = createDownloadReporter({ json: !human || process.stderr.isTTY !== true, stream: process.stderr, label: model.file });
                          try {
                              return await pullModel({
                                  uri: model.source!,
                                  file: model.file,
                                  modelsDir: config.modelsDir,
                                  settings,
                                  db,
                                  expectedSha256: model.sha256,
                                  expectedSize: model.size,
                                  offline: config.offline,
                                  signal: controller.signal,
                                  onEvent: (event) => reporter.onEvent(event)
                              });
                          } finally {
                              reporter.finish();
                          }
                      }
                    : undefined
        });
        if (!human) {
            process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        } else {
            if (options.strict === true) {
                for (const file of report.unlocked) process.stdout.write(`${"UNLOCKED".padEnd(8)} ${file}: present in the models directory but not in the lock\n`);
                for (const item of report.engineMismatches) process.stdout.write(`${"ENGINE".padEnd(8)} ${item.name}: lock has ${item.locked}, installed ${item.installed}\n`);
            } else {
                for (const item of report.engineMismatches) process.stderr.write(`mentator: warning: engine ${item.name}: lock has ${item.locked}, installed ${item.installed}\n`);
            }
            const how = report.fastPath ? "lock and files unchanged since the last verification" : `${report.models.filter((check) => check.cached).length} of ${report.models.length} hashes from the cache`;
            const verdict = report.ok ? "verified" : `FAILED (${report.problems.length} problem${report.problems.length === 1 ? "" : "s"})`;
            process.stdout.write(`${verdict}: ${report.models.length} model${report.models.length === 1 ? "" : "s"} in ${lockPath} (${how}; ${Math.round(report.durationMs)} ms)\n`);
        }
        return report.ok ? EXIT_OK : EXIT_FAILURE;
    } catch (error) {
        return reportError(error);
    } finally {
        db?.close();
        process.off("SIGINT", onSignal);
    }
}
