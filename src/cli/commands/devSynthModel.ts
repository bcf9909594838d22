import type { Command } from "commander";
import { SyntheticModelError } from "../../models/synth/SyntheticModelError.js";
import { type SynthPresetName, type SynthQuant, synthPresetNames, synthQuants } from "../../models/synth/synthPresets.js";
import { SYNTH_DEFAULT_SEED, writeSyntheticModel } from "../../models/synth/writeSyntheticModel.js";

/** Exit code for bad usage (see SERVICE.md). */
const EXIT_BAD_USAGE = 2;
const EXIT_FAILURE = 1;

interface DevSynthModelCliOptions {
    out?: string;
    preset: string;
    quant?: string;
    seed: string;
    contextLength?: string;
    name?: string;
    force?: boolean;
    json?: boolean;
}

/** Adds `dev` and its subcommands (`dev synth-model`) to `program`. */
export function registerDevCommands(program: Command): Command {
    const dev = program
        .command("dev")
        .description("developer tools: synthetic models for tests, smoke checks and benchmarks");

    // Options are validated in the action (not with commander's choices/requiredOption), so that
    // bad usage exits with code 2 like every other command.
    dev.command("synth-model")
        .description("write a synthetic GGUF model (random weights, real format, real tokenizer and chat template)")
        .option("--out <file>", "output .gguf file (required)")
        .option("--preset <name>", `model shape: ${synthPresetNames.join("|")}`, "tiny")
        .option("--quant <type>", `type of the 2-D tensors: ${synthQuants.join("|")} (default: the preset's)`)
        .option("--seed <n>", "seed of the random weights; the same seed gives the same file", String(SYNTH_DEFAULT_SEED))
        .option("--context-length <n>", "trained context length to record (default: the preset's)")
        .option("--name <name>", "general.name to record (default: the preset's)")
        .option("--force", "replace an existing file")
        .option("--json", "print the result as JSON")
        .action(async (options: DevSynthModelCliOptions) => {
            process.exitCode = await runDevSynthModel(options);
        });

    return dev;
}

async function runDevSynthModel(options: DevSynthModelCliOptions): Promise<number> {
    if (options.out == null || options.out.trim() === "")
        return usageError("--out FILE is required");

    const seed = parseInteger(options.seed);
    if (seed == null)
        return usageError(`--seed must be a non-negative integer, got "${options.seed}"`);

    let contextLength: number | undefined;
    if (options.contextLength != null) {
        contextLength = parseInteger(options.contextLength);
        if (contextLength == null || contextLength < 1)
            return usageError(`--context-length must be a positive integer, got "${options.contextLength}"`);
    }

    const showProgress = process.stderr.isTTY && !options.json;
    let lastPercent = -1;
    const started = performance.now();
    try {
        const result = await writeSyntheticModel({
            out: options.out,
            // Checked (with a clear message) by writeSyntheticModel.
            preset: options.preset as SynthPresetName,
            quant: options.quant as SynthQuant | undefined,
            seed,
            force: options.force ?? false,
            contextLength,
            name: options.name,
            onProgress: showProgress
                ? ({ bytesWritten, totalBytes }) => {
                    const percent = Math.floor(bytesWritten / totalBytes * 100);
                    if (percent !== lastPercent) {
                        lastPercent = percent;
                        process.stderr.write(`\rwriting ${options.out}: ${percent}%`);
                    }
                }
                : undefined
        });
        if (showProgress)
            process.stderr.write("\n");

        const seconds = (performance.now() - started) / 1000;
        if (options.json)
            process.stdout.write(JSON.stringify({ ...result, seconds: Number(seconds.toFixed(3)) }) + "\n");
        else
            process.stdout.write(`${result.path}\n${formatBytes(result.sizeBytes)} (${result.sizeBytes} bytes), ` +
                `${result.tensors} tensors, written in ${seconds.toFixed(1)} s\n`);

        return 0;
    } catch (err) {
        if (showProgress && lastPercent >= 0)
            process.stderr.write("\n");
        if (err instanceof SyntheticModelError)
            return usageError(err.message);

        process.stderr.write(`mentator dev synth-model: ${(err as Error).message}\n`);
        return EXIT_FAILURE;
    }
}

function usageError(message: string): number {
    process.stderr.write(`mentator dev synth-model: ${message}\n`);
    return EXIT_BAD_USAGE;
}

function parseInteger(text: string): number | undefined {
    if (!/^\d+$/.test(text.trim()))
        return undefined;

    const value = Number(text.trim());
    return Number.isSafeInteger(value) ? value : undefined;
}

function formatBytes(bytes: number): string {
    const units = ["B", "KiB", "MiB", "GiB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit++;
    }
    return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
