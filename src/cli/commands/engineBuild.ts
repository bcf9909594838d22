import { InvalidArgumentError, type Command } from "commander";
import { loadConfig } from "../../config/loadConfig.js";
import { buildLlamaServer } from "../../engine/llamaServer/buildLlamaServer.js";
import { EngineBuildError } from "../../engine/llamaServer/EngineBuildError.js";
import { engineDirsOf, readLlamaCppRelease } from "../../engine/llamaServer/locateLlamaServer.js";
import { chooseBackend } from "../../hardware/chooseBackend.js";
import { detectHardware } from "../../hardware/detectHardware.js";
import { resolveNodeLlamaCppDir } from "../../hardware/findLlamaBinary.js";
import { gpuBackends, type GpuBackend } from "../../hardware/types.js";
import { configCliOptions } from "../globalOptions.js";
import { reportError } from "../reportError.js";

interface EngineBuildCliOptions {
    gpu?: GpuBackend;
    jobs?: number;
    force?: boolean;
    cudaArch?: string;
    amdgpuTargets?: string;
    keepBuild?: boolean;
    json?: boolean;
}

function parseBackend(value: string): GpuBackend {
    const backend = gpuBackends.find((entry) => entry === value);
    if (backend === undefined) throw new InvalidArgumentError(`expected one of ${gpuBackends.join(", ")}`);
    return backend;
}

function parseJobs(value: string): number {
    const jobs = Number(value);
    if (!Number.isInteger(jobs) || jobs < 1) throw new InvalidArgumentError("expected a positive integer");
    return jobs;
}

/** `mentator engine build`: llama-server from node-llama-cpp's llama.cpp source, into the data dir's engine cache. */
export function registerEngineCommands(program: Command): Command {
    const engine = program.command("engine").description("manage the llama-server engine");
    engine
        .command("build")
        .description("build llama-server from the llama.cpp source node-llama-cpp ships, into the engine cache (needs cmake, git, a C++ compiler)")
        .option("--gpu <backend>", `backend to build for: ${gpuBackends.join(" | ")} (default: the configured gpu, or the one auto picks)`, parseBackend)
        .option("--jobs <n>", "parallel compile jobs (default: all CPUs)", parseJobs)
        .option("--force", "build again even if the cache has this release and backend")
        .option("--cuda-arch <list>", 'CUDA architectures, e.g. "90" or "86;90" (default: the GPUs of this machine)')
        .option("--amdgpu-targets <list>", 'ROCm targets, e.g. "gfx90a;gfx1100"')
        .option("--keep-build", "keep the source and CMake build folder for faster rebuilds")
        .option("--json", "print the result as JSON")
        .action(async (options: EngineBuildCliOptions, command: Command) => {
            try {
                const config = loadConfig({ cli: configCliOptions(command) });
                const backend = options.gpu ?? (await defaultBackend(config.gpu));
                const nodeLlamaCppDir = await resolveNodeLlamaCppDir();
                if (nodeLlamaCppDir === null) throw new EngineBuildError("node-llama-cpp is not installed: its llama.cpp source is what gets built");
                const release = await readLlamaCppRelease(nodeLlamaCppDir);
                const { cacheDir } = engineDirsOf(config);
                process.stderr.write(`building llama-server (llama.cpp ${release}, ${backend}) into ${cacheDir}\n`);
                const result = await buildLlamaServer({
                    backend,
                    cacheDir,
                    nodeLlamaCppDir,
                    release,
                    jobs: options.jobs,
                    force: options.force,
                    cudaArchitectures: options.cudaArch,
                    amdgpuTargets: options.amdgpuTargets,
                    keepBuildDir: options.keepBuild,
                    onOutput: (line) => process.stderr.write(`  ${line}\n`)
                });
                if (options.json === true) {
                    process.stdout.write(`${JSON.stringify({ backend, release, ...result }, null, 2)}\n`);
                } else {
                    process.stdout.write(result.cached ? `${result.binary} (already built)\n` : `${result.binary} (built in ${result.seconds.toFixed(0)} s)\n`);
                }
            } catch (error) {
                process.exitCode = reportError(error);
            }
        });
    return engine;
}

/** The configured backend, or under `auto` the one the service would pick (CPU when nothing else is usable). */
async function defaultBackend(requested: string): Promise<GpuBackend> {
    if (requested !== "auto") return parseBackend(requested);
    try {
        return chooseBackend(await detectHardware(), "auto").backend;
    } catch {
        return "cpu";
    }
}
