import { Command, CommanderError } from "commander";
import { loadConfig } from "../config/loadConfig.js";
import { engineDirsOf } from "../engine/llamaServer/locateLlamaServer.js";
import { packageInfo } from "../util/packageInfo.js";
import { registerDevCommands } from "./commands/devSynthModel.js";
import { registerDoctorCommand } from "./commands/doctor.js";
import { registerEngineCommands } from "./commands/engineBuild.js";
import { registerModelsListCommand } from "./commands/modelsList.js";
import { registerModelsLockCommand } from "./commands/modelsLock.js";
import { registerModelsPullCommand } from "./commands/modelsPull.js";
import { registerModelsRmCommand } from "./commands/modelsRm.js";
import { registerModelsVerifyCommand } from "./commands/modelsVerify.js";
import { registerRunCommand } from "./commands/run.js";
import { registerServeCommand } from "./commands/serve.js";
import { registerWarmupCommand } from "./commands/warmup.js";
import { registerWorkerCommand } from "./commands/worker.js";
import { EXIT_USAGE } from "./exitCodes.js";
import { addGlobalOptions, configCliOptions } from "./globalOptions.js";
import { reportError } from "./reportError.js";

export function buildProgram(): Command {
    const program = addGlobalOptions(new Command("mentator"))
        .description("Mentator LLM Service: self-hosted LLM inference (OpenAI-compatible API, RunPod-compatible jobs)")
        .version(packageInfo().version, "-V, --version")
        .showHelpAfterError()
        .exitOverride();
    registerServeCommand(program);
    registerDoctorCommand(program, async () => {
        const config = loadConfig({ cli: configCliOptions(program) });
        return { gpu: config.gpu, engine: { requested: config.engine, dirs: engineDirsOf(config), models: config.models } };
    });
    const models = program.command("models").description("manage models in the models directory");
    registerModelsListCommand(models);
    registerModelsPullCommand(models);
    registerModelsLockCommand(models);
    registerModelsVerifyCommand(models);
    registerModelsRmCommand(models);
    registerRunCommand(program);
    registerWorkerCommand(program);
    registerWarmupCommand(program);
    registerEngineCommands(program);
    registerDevCommands(program);
    return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
    const program = buildProgram();
    try {
        await program.parseAsync(argv);
    } catch (error) {
        if (error instanceof CommanderError) {
            // --help and --version end here with exit code 0; usage errors were already printed.
            return error.exitCode === 0 ? 0 : EXIT_USAGE;
        }
        return reportError(error);
    }
    return typeof process.exitCode === "number" ? process.exitCode : 0;
}
