import { InvalidArgumentError, type Command } from "commander";
import type { EngineKind, ModelOverride } from "../../config/schema.js";
import { chooseEngine, type EngineChoice } from "../../engine/chooseEngine.js";
import { locateLlamaServer, readLlamaCppRelease, type EngineDirs, type LlamaServerLocation } from "../../engine/llamaServer/locateLlamaServer.js";
import type { LlamaRuntime, RuntimeLog } from "../../engine/nodeLlamaCpp/loadLlamaRuntime.js";
import { BackendUnavailableError } from "../../hardware/BackendUnavailableError.js";
import { chooseBackend } from "../../hardware/chooseBackend.js";
import { detectHardware } from "../../hardware/detectHardware.js";
import type { HardwareProbes } from "../../hardware/HardwareProbes.js";
import { gpuBackends, gpuRequests, type BackendCandidate, type BackendChoice, type GpuBackend, type GpuRequest, type HardwareReport } from "../../hardware/types.js";
import { EXIT_FAILURE, EXIT_OK } from "../exitCodes.js";
import { formatBytes, formatTable } from "../format.js";
import { reportError } from "../reportError.js";

export interface DoctorContext {
    gpu: GpuRequest;
    /** The engine settings; without them the engine section is left out. */
    engine?: DoctorEngineOptions;
}

export interface DoctorEngineOptions {
    requested: EngineKind;
    dirs: EngineDirs;
    /** `models` from the config: per-model `engine` and `upstream`. */
    models: Record<string, ModelOverride>;
}

/** Which engine serves models, and whether a llama-server binary exists for the chosen backend. */
export interface DoctorEngineReport {
    /** The choice for models without their own setting. */
    choice: EngineChoice;
    llamaServer: LlamaServerLocation;
    /** Models whose config picks another engine (or upstream). */
    models: Array<{ id: string } & EngineChoice>;
}

export interface DoctorRuntimeReport {
    version: string | null;
    /** The backend node-llama-cpp actually loaded; null when none did (or none was tried). */
    loadedBackend: GpuBackend | null;
    gpuDevices: string[];
    fallbacks: string[];
    /** Warnings logged while loading. */
    warnings: string[];
    error: string | null;
}

export interface DoctorReport {
    requested: GpuRequest;
    hardware: HardwareReport;
    /** Null when the forced backend is not usable (see choiceError). */
    choice: BackendChoice | null;
    choiceError: string | null;
    candidates: BackendCandidate[];
    nodeLlamaCpp: DoctorRuntimeReport;
    engine?: DoctorEngineReport;
}

export interface RunDoctorOptions {
    gpu: GpuRequest;
    engine?: DoctorEngineOptions;
    /** Default: the real system. */
    probes?: HardwareProbes;
    /** Default: loadLlamaRuntime (tests pass a fake). */
    loadRuntime?: (choice: BackendChoice, log: RuntimeLog) => Promise<LlamaRuntime>;
}

/** Detects, chooses, and really loads the chosen backend once (then releases it). Never throws for hardware trouble. */
export async function runDoctor(options: RunDoctorOptions): Promise<DoctorReport> {
    const hardware = await detectHardware(options.probes);
    const nodeLlamaCpp: DoctorRuntimeReport = { version: await readNodeLlamaCppVersion(), loadedBackend: null, gpuDevices: [], fallbacks: [], warnings: [], error: null };

    let choice: BackendChoice | null = null;
    let choiceError: string | null = null;
    let candidates: BackendCandidate[] = [];
    try {
        choice = chooseBackend(hardware, options.gpu);
        candidates = choice.candidates;
    } catch (error) {
        if (!(error instanceof BackendUnavailableError))
            throw error;
        choiceError = error.message;
        candidates = error.candidates;
    }

    if (choice != null) {
        const log: RuntimeLog = {
            info: () => undefined,
            warn: (obj, msg) => nodeLlamaCpp.warnings.push(typeof obj === "string" ? obj : msg ?? JSON.stringify(obj))
        };
        try {
            const loadRuntime = options.loadRuntime ?? (await import("../../engine/nodeLlamaCpp/loadLlamaRuntime.js")).loadLlamaRuntime;
            const runtime = await loadRuntime(choice, log);
            nodeLlamaCpp.loadedBackend = runtime.backend;
            nodeLlamaCpp.fallbacks = runtime.fallbacks;
            try {
                nodeLlamaCpp.gpuDevices = await runtime.llama.getGpuDeviceNames();
            } finally {
                await runtime.llama.dispose();
            }
        } catch (error) {
            nodeLlamaCpp.error = error instanceof Error ? error.message : String(error);
            if (error instanceof BackendUnavailableError && options.gpu === "auto")
                nodeLlamaCpp.fallbacks = error.reason.split("; ");
        }
    }
    const engine = options.engine !== undefined ? await reportEngine(options.engine, choice?.backend ?? "cpu") : undefined;
    return { requested: options.gpu, hardware, choice, choiceError, candidates, nodeLlamaCpp, ...(engine !== undefined ? { engine } : {}) };
}

async function reportEngine(options: DoctorEngineOptions, backend: GpuBackend): Promise<DoctorEngineReport> {
    const release = await readLlamaCppRelease().catch(() => "unknown");
    const llamaServer = await locateLlamaServer(backend, options.dirs, release);
    const choice = chooseEngine({ requested: options.requested, upstream: false, llamaServer });
    const models = Object.entries(options.models)
        .filter(([, override]) => override.engine !== undefined || override.upstream !== undefined)
        .map(([id, override]) => ({ id, ...chooseEngine({ requested: override.engine ?? options.requested, upstream: override.upstream !== undefined, llamaServer }) }));
    return { choice, llamaServer, models };
}

/**
 * 1 when a forced backend is unusable or fails to load, when not even `auto` could load anything, or when
 * `engine: llama-server` is configured without a binary for the chosen backend.
 */
export function doctorExitCode(report: DoctorReport): number {
    if (report.engine?.choice.error !== undefined)
        return EXIT_FAILURE;
    if (report.requested !== "auto")
        return report.choiceError != null || report.nodeLlamaCpp.error != null ? EXIT_FAILURE : EXIT_OK;
    return report.nodeLlamaCpp.loadedBackend != null ? EXIT_OK : EXIT_FAILURE;
}

/** What `mentator doctor --json` prints; `choice.backend` is null when the forced backend is unusable. */
export interface DoctorJson {
    hardware: HardwareReport;
    choice: BackendChoice | { requested: GpuRequest; backend: null; reason: string | null; candidates: BackendCandidate[] };
    nodeLlamaCpp: DoctorRuntimeReport;
    engine?: DoctorEngineReport;
}

export function doctorJson(report: DoctorReport): DoctorJson {
    return {
        hardware: report.hardware,
        choice: report.choice ?? { requested: report.requested, backend: null, reason: report.choiceError, candidates: report.candidates },
        nodeLlamaCpp: report.nodeLlamaCpp,
        ...(report.engine !== undefined ? { engine: report.engine } : {})
    };
}

/** Human-readable doctor output. Pure. */
export function formatDoctorReport(report: DoctorReport): string {
    const { hardware, nodeLlamaCpp } = report;
    const { cpu, nvidia, amd, vulkan } = hardware;
    const lines: string[] = [];
    const section = (title: string, text: string): void => {
        lines.push(`${title.padEnd(8)}  ${text}`);
    };
    const detail = (text: string): void => {
        lines.push(`          ${text}`);
    };

    section("System", `${hardware.os.platform} ${hardware.os.arch} (kernel ${hardware.os.release})`);
    section("CPU", `${cpu.model}, ${cpu.cores} cores${cpu.threads != null ? ` / ${cpu.threads} threads` : ""}, SIMD: ${cpu.simd.length > 0 ? cpu.simd.join(" ") : "unknown"}`);
    section("RAM", `${formatBytes(cpu.memoryTotalBytes)} total, ${formatBytes(cpu.memoryFreeBytes)} available` +
        (cpu.memoryLimitBytes != null ? `, cgroup limit ${formatBytes(cpu.memoryLimitBytes)}` : ""));

    section("NVIDIA", nvidia.reason);
    for (const [index, device] of nvidia.devices.entries())
        detail(`GPU ${index}: ${device.name}, VRAM ${formatBytes(device.memoryTotalBytes)}` +
            (device.memoryFreeBytes != null ? ` (${formatBytes(device.memoryFreeBytes)} free)` : ""));
    const runtime = nvidia.cudaRuntime;
    detail(`CUDA: driver library libcuda.so.1 ${runtime.driverLibraryFound ? "found" : "missing"}, complete runtime: ` +
        (runtime.majorVersions.length > 0 ? runtime.majorVersions.map((major) => `CUDA ${major}`).join(", ") : "none"));
    for (const library of runtime.libraries)
        detail(`  ${library}${runtime.offLoaderPath.includes(library) ? "  (not on the loader path)" : ""}`);

    section("AMD", amd.reason);
    for (const [index, device] of amd.devices.entries())
        detail(`GPU ${index}: ${device.name}` + (device.memoryTotalBytes != null ? `, VRAM ${formatBytes(device.memoryTotalBytes)}` : "") +
            (device.memoryFreeBytes != null ? ` (${formatBytes(device.memoryFreeBytes)} free)` : ""));
    detail(`HIP runtime: ${amd.hipRuntime.found ? amd.hipRuntime.libraries.join(", ") : "not found"}; ` +
        `HIP build: ${amd.hipBuild.found ? amd.hipBuild.path ?? "found" : "none"}`);

    section("Vulkan", vulkan.reason);

    lines.push("", `node-llama-cpp ${nodeLlamaCpp.version ?? "(version unknown)"} binaries:`);
    lines.push(formatTable(["BACKEND", "BINARY"], gpuBackends.map((backend) => {
        const binary = hardware.binaries[backend];
        return [backend, binary.found ? binary.reason : `none: ${binary.reason}`];
    })).trimEnd());

    lines.push("", `Backends (requested: ${report.requested}):`);
    lines.push(formatTable(["BACKEND", "USABLE", "REASON"], report.candidates.map((candidate) => [
        candidate.backend,
        candidate.usable ? "yes" : "no",
        candidate.reason
    ])).trimEnd());

    lines.push("");
    if (report.choice != null)
        lines.push(`Chosen: ${report.choice.backend}: ${report.choice.reason}`);
    else
        lines.push(`Chosen: none: ${report.choiceError ?? "unknown error"}`);

    if (nodeLlamaCpp.loadedBackend != null)
        lines.push(`Loaded: node-llama-cpp runs with the ${nodeLlamaCpp.loadedBackend} backend` +
            (nodeLlamaCpp.gpuDevices.length > 0 ? ` on ${nodeLlamaCpp.gpuDevices.join(", ")}` : ""));
    else if (nodeLlamaCpp.error != null)
        lines.push(`Loaded: FAILED: ${nodeLlamaCpp.error}`);
    else
        lines.push("Loaded: not tried (no usable backend chosen)");
    for (const fallback of nodeLlamaCpp.fallbacks)
        lines.push(`  fell back from ${fallback}`);
    for (const warning of nodeLlamaCpp.warnings)
        lines.push(`  warning: ${warning}`);
    if (report.engine !== undefined) {
        const { choice, llamaServer } = report.engine;
        lines.push("", `Engine (requested: ${choice.requested}):`);
        lines.push(`  llama-server (llama.cpp ${llamaServer.release}, ${llamaServer.backend}): ${llamaServer.found ? llamaServer.reason : `none: ${llamaServer.reason}`}`);
        lines.push(choice.error !== undefined ? `Engine: FAILED: ${choice.reason}: ${choice.error}` : `Engine: ${choice.engine}: ${choice.reason}`);
        for (const model of report.engine.models)
            lines.push(`  model ${model.id}: ${model.engine}${model.error !== undefined ? ` FAILED: ${model.error}` : `: ${model.reason}`}`);
    }
    return `${lines.join("\n")}\n`;
}

function parseGpuRequest(value: string): GpuRequest {
    const request = gpuRequests.find((entry) => entry === value);
    if (request == null)
        throw new InvalidArgumentError(`expected one of ${gpuRequests.join(", ")}`);
    return request;
}

async function readNodeLlamaCppVersion(): Promise<string | null> {
    try {
        const { getModuleVersion } = await import("node-llama-cpp");
        return await getModuleVersion();
    } catch {
        return null;
    }
}

export function registerDoctorCommand(program: Command, getContext: () => Promise<DoctorContext>): void {
    program
        .command("doctor")
        .description("show the hardware and backends found, which backend is chosen and why, and try loading it")
        .option("--json", "print one JSON object {hardware, choice, nodeLlamaCpp}")
        .option("--gpu <backend>", `check this backend instead of the configured one (${gpuRequests.join(" | ")})`, parseGpuRequest)
        .action(async (options: { json?: boolean; gpu?: GpuRequest }) => {
            try {
                let context: DoctorContext | undefined;
                try {
                    context = await getContext();
                } catch (error) {
                    if (options.gpu === undefined) throw error; // with --gpu, a broken config only hides the engine section
                }
                const report = await runDoctor({ gpu: options.gpu ?? context!.gpu, engine: context?.engine });
                process.stdout.write(options.json === true ? `${JSON.stringify(doctorJson(report), null, 2)}\n` : formatDoctorReport(report));
                process.exitCode = doctorExitCode(report);
            } catch (error) {
                process.exitCode = reportError(error);
            }
        });
}
