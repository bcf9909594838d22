import type { Command } from "commander";
import { loadConfig } from "../../config/loadConfig.js";
import { openDatabase, type SqliteDatabase } from "../../db/openDatabase.js";
import { ModelRegistry, type ModelEntry } from "../../models/ModelRegistry.js";
import { formatBytes, formatCount, formatTable } from "../format.js";
import { configCliOptions } from "../globalOptions.js";
import { reportError } from "../reportError.js";

export function registerModelsListCommand(models: Command): void {
    models
        .command("list")
        .alias("ls")
        .description("list the models in the models directory")
        .option("--json", "print JSON")
        .action(async (options: { json?: boolean }, command: Command) => {
            try {
                const config = loadConfig({ cli: configCliOptions(command) });
                let db: SqliteDatabase | undefined;
                try {
                    db = openDatabase(config.dbPath, { busyTimeoutMs: 1000 });
                } catch {
                    db = undefined; // the cache is an optimisation; listing works without it
                }
                const registry = new ModelRegistry({ modelsDir: config.modelsDir, overrides: config.models, db });
                const entries = await registry.refresh();
                db?.close();
                process.stdout.write(options.json === true ? `${JSON.stringify({ modelsDir: config.modelsDir, models: entries }, null, 2)}\n` : formatModels(entries, config.modelsDir));
            } catch (error) {
                process.exitCode = reportError(error);
            }
        });
}

function formatModels(entries: ModelEntry[], modelsDir: string): string {
    if (entries.length === 0) return `no models in ${modelsDir}\n`;
    const rows = entries.map((entry) => [
        entry.id,
        entry.sizeBytes !== undefined ? formatBytes(entry.sizeBytes) : entry.override?.upstream !== undefined ? "upstream" : "-",
        entry.summary?.architecture ?? "-",
        entry.summary !== undefined ? formatCount(entry.summary.parameterCount) : "-",
        entry.summary?.quantization?.replace(/^MOSTLY_/, "") ?? "-",
        entry.summary?.trainedContextSize !== undefined ? String(entry.summary.trainedContextSize) : "-",
        entry.state === "available" ? "ok" : `${entry.state}: ${entry.error ?? ""}`
    ]);
    return formatTable(["ID", "SIZE", "ARCH", "PARAMS", "QUANT", "CTX", "STATE"], rows);
}
