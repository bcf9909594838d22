import type { Command } from "commander";
import { loadConfig } from "../../config/loadConfig.js";
import type { SqliteDatabase } from "../../db/openDatabase.js";
import { deleteModelFile } from "../../models/deleteModelFile.js";
import { ModelRegistry } from "../../models/ModelRegistry.js";
import { configCliOptions } from "../globalOptions.js";
import { openCacheDatabase } from "../openCacheDatabase.js";
import { reportError } from "../reportError.js";

export function registerModelsRmCommand(models: Command): void {
    models
        .command("rm")
        .alias("remove")
        .description("delete a model's file from the models directory")
        .argument("<id...>", "model ids (file names without .gguf)")
        .option("--json", "print the result as JSON")
        .action(async (ids: string[], options: { json?: boolean }, command: Command) => {
            process.exitCode = await remove(ids, options, command);
        });
}

async function remove(ids: string[], options: { json?: boolean }, command: Command): Promise<number> {
    let db: SqliteDatabase | undefined;
    try {
        const config = loadConfig({ cli: configCliOptions(command) });
        db = openCacheDatabase(config);
        const registry = new ModelRegistry({ modelsDir: config.modelsDir, overrides: config.models, db });
        await registry.refresh();
        const results = [];
        for (const id of ids) {
            const result = await deleteModelFile(registry, db, id, config.lockPath);
            results.push(result);
            if (options.json !== true) {
                process.stdout.write(`deleted ${result.id} (${result.path})\n`);
                if (result.stillInLock) process.stderr.write(`mentator: note: ${config.lockPath} still lists ${result.file}; run "mentator models lock" to update it\n`);
            }
        }
        if (options.json === true) process.stdout.write(`${JSON.stringify({ deleted: results }, null, 2)}\n`);
        return 0;
    } catch (error) {
        return reportError(error);
    } finally {
        db?.close();
    }
}
