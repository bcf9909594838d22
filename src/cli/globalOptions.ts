import type { Command } from "commander";
import type { ConfigCliOptions } from "../config/loadConfig.js";

/** Options every command accepts: where the config, data and models are. */
export interface GlobalOptions {
    config?: string;
    dataDir?: string;
    modelsDir?: string;
    verbose?: boolean;
}

export function addGlobalOptions(program: Command): Command {
    return program
        .option("--config <file>", "config file (default: <data-dir>/mentator-llm-service.conf.jsonc)")
        .option("--data-dir <dir>", "data directory (default: $MENTATOR_HOME, else ./data)")
        .option("--models-dir <dir>", "models directory (default: <data-dir>/models)")
        .option("--verbose", "debug logging");
}

/** The config-relevant subset of a command's options merged with the global ones. */
export function configCliOptions(command: Command): ConfigCliOptions {
    const options = command.optsWithGlobals<GlobalOptions>();
    return {
        config: options.config,
        dataDir: options.dataDir,
        modelsDir: options.modelsDir,
        logLevel: options.verbose === true ? "debug" : undefined
    };
}
