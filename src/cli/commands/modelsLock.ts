import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { loadConfig } from "../../config/loadConfig.js";
import type { SqliteDatabase } from "../../db/openDatabase.js";
import { buildLockFile } from "../../models/lock/buildLockFile.js";
import type { LockFile } from "../../models/lock/lockFileSchema.js";
import { readLockFile } from "../../models/lock/readLockFile.js";
import { writeLockFile } from "../../models/lock/writeLockFile.js";
import { ModelRegistry } from "../../models/ModelRegistry.js";
import { formatBytes, formatTable } from "../format.js";
import { configCliOptions } from "../globalOptions.js";
import { openCacheDatabase } from "../openCacheDatabase.js";
import { reportError } from "../reportError.js";

interface LockOptions {
    lock?: string;
    json?: boolean;
}

export function registerModelsLockCommand(models: Command): void {
    models
        .command("lock")
        .description("write mentator.lock.json from the models present (sha256, size, source, engine versions)")
        .option("--lock <file>", "lock file to write (default: LOCK_PATH, else <models-dir>/mentator.lock.json)")
        .option("--json", "print the lock as JSON")
        .action(async (options: LockOptions, command: Command) => {
            process.exitCode = await lock(options, command);
        });
}

async function lock(options: LockOptions, command: Command): Promise<number> {
    let db: SqliteDatabase | undefined;
    try {
        const config = loadConfig({ cli: configCliOptions(command) });
        const lockPath = options.lock !== undefined ? resolve(options.lock) : config.lockPath;
        db = openCacheDatabase(config);
        const registry = new ModelRegistry({ modelsDir: config.modelsDir, overrides: config.models, db });
        const entries = await registry.refresh();
        let previous: LockFile | undefined;
        if (existsSync(lockPath)) {
            try {
                previous = readLockFile(lockPath).lock;
            } catch (error) {
                process.stderr.write(`mentator: warning: replacing an unreadable lock (${(error as Error).message})\n`);
            }
        }
        const written = await buildLockFile({
            entries,
            db,
            previous,
            onModel: (model, cached) => {
                if (!cached && options.json !== true) process.stderr.write(`hashed ${model.file}\n`);
            }
        });
        if (written.models.length === 0) process.stderr.write(`mentator: warning: no model files in ${config.modelsDir}; the lock lists none\n`);
        const text = writeLockFile(lockPath, written);
        if (options.json === true) {
            process.stdout.write(text);
        } else {
            const rows = written.models.map((model) => [model.id, model.file, formatBytes(model.size), model.sha256.slice(0, 16), model.source ?? "-"]);
            process.stdout.write(formatTable(["ID", "FILE", "SIZE", "SHA256", "SOURCE"], rows));
            process.stdout.write(`wrote ${lockPath} (${written.models.length} model${written.models.length === 1 ? "" : "s"})\n`);
        }
        return 0;
    } catch (error) {
        return reportError(error);
    } finally {
        db?.close();
    }
}
