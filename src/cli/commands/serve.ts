import { InvalidArgumentError, type Command } from "commander";
import { loadConfig } from "../../config/loadConfig.js";
import { buildHealthReport } from "../../service/buildHealthReport.js";
import type { MentatorService } from "../../service/MentatorService.js";
import { StorageHealthMonitor } from "../../storage/StorageHealthMonitor.js";
import { createLogger } from "../../util/logger.js";
import { EXIT_FAILURE, EXIT_OK } from "../exitCodes.js";
import { configCliOptions } from "../globalOptions.js";
import { reportError } from "../reportError.js";

interface ServeOptions {
    confDocker?: string;
    host?: string;
    port?: number;
    gpu?: string;
    apiKey?: string[];
    offline?: boolean;
}

function parsePort(value: string): number {
    const port = Number(value);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError("expected a port number 0-65535");
    return port;
}

function collect(value: string, previous: string[] | undefined): string[] {
    return [...(previous ?? []), value];
}

export function registerServeCommand(program: Command): void {
    program
        .command("serve", { isDefault: true })
        .description("serve the HTTP API (the default command)")
        .option("--conf-docker <file>", "Docker mode: config inside the data volume; port 19777, host 0.0.0.0, DB and models beside it")
        .option("--host <host>", "listen address (default 127.0.0.1; Docker 0.0.0.0)")
        .option("--port <port>", "listen port (default 19777)", parsePort)
        .option("--gpu <backend>", "auto | cuda | rocm | vulkan | cpu")
        .option("--api-key <key>", "require this API key (repeatable)", collect)
        .option("--offline", "never download anything")
        .action(async (options: ServeOptions, command: Command) => {
            process.exitCode = await serve(command, options);
        });
}

async function serve(command: Command, options: ServeOptions): Promise<number> {
    let shutdownRequested = false;
    let shutdown: (() => Promise<void>) | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
        if (shutdownRequested) {
            process.stderr.write(`mentator: second ${signal}, exiting now\n`);
            process.exit(EXIT_FAILURE);
        }
        shutdownRequested = true;
        void shutdown?.();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);

    let service: MentatorService;
    const config = (() => {
        try {
            return loadConfig({
                cli: {
                    ...configCliOptions(command),
                    confDocker: options.confDocker,
                    host: options.host,
                    port: options.port,
                    gpu: options.gpu,
                    apiKeys: options.apiKey,
                    offline: options.offline
                },
                createIfMissing: true
            });
        } catch (error) {
            return error as Error;
        }
    })();
    if (config instanceof Error) return reportError(config);
    const log = createLogger(config.logLevel, { service: "mentator" });
    if (config.createdConfigFile) log.info({ file: config.configFile }, "wrote default config file");
    log.info({ host: config.host, port: config.port, config: config.configFile, dataDir: config.dataDir, models: config.modelsDir, docker: config.dockerMode }, "starting");

    // Checked while the service starts; /health then reads the latest result without waiting on the buckets.
    const storage = new StorageHealthMonitor(config);
    const firstStorageCheck = storage.refresh();
    // The service, then the default model's load, then the HTTP layer: modules are imported in that order so
    // the model (a llama-server child loads in parallel) starts loading as early as possible; readiness waits
    // for both.
    try {
        const { MentatorService } = await import("../../service/MentatorService.js");
        service = await MentatorService.create({ config, log });
    } catch (error) {
        return reportError(error);
    }
    if (shutdownRequested) {
        await service.stop();
        return EXIT_OK;
    }
    service.startDefaultModel();

    const { buildApp } = await import("../../http/buildApp.js");
    await firstStorageCheck;
    const app = buildApp({
        log,
        maxBodyBytes: config.limits.maxBodyBytes,
        context: {
            service,
            health: () => buildHealthReport(service, { ...storage.current() })
        }
    });

    const stopped = new Promise<number>((resolve) => {
        shutdown = async () => {
            log.info("shutting down");
            const deadline = setTimeout(() => {
                log.warn({ timeoutMs: config.limits.shutdownTimeoutMs }, "in-flight requests did not finish in time; closing connections");
                app.server.closeAllConnections();
            }, config.limits.shutdownTimeoutMs);
            deadline.unref();
            service.beginShutdown();
            try {
                await app.close();
                await service.stop();
            } catch (error) {
                log.error({ err: error }, "error during shutdown");
            } finally {
                clearTimeout(deadline);
            }
            log.info("stopped");
            resolve(EXIT_OK);
        };
    });

    try {
        await app.listen({ host: config.host, port: config.port });
    } catch (error) {
        await service.stop();
        return reportError(new Error(`cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`));
    }
    // Jobs start taking work once model preparation is over (the default model is loading by then).
    void service.supply.run().then(() => service.jobs.start());
    if (shutdownRequested) void shutdown?.();
    return stopped;
}
