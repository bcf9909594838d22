import { InvalidArgumentError, type Command } from "commander";
import { loadConfig } from "../../config/loadConfig.js";
import { EXIT_FAILURE, EXIT_OK } from "../exitCodes.js";
import { configCliOptions } from "../globalOptions.js";
import { reportError } from "../reportError.js";

interface WarmupOptions {
    url?: string;
    timeout: number;
    apiKey?: string;
}

function parseSeconds(value: string): number {
    const seconds = Number(value);
    if (!Number.isFinite(seconds) || seconds <= 0) throw new InvalidArgumentError("expected a number of seconds");
    return seconds;
}

async function readiness(url: string): Promise<{ ready: boolean; reason: string }> {
    try {
        const response = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(5000) });
        const body = (await response.json().catch(() => ({}))) as { reason?: string };
        return { ready: response.status === 200, reason: body.reason ?? `HTTP ${response.status}` };
    } catch (error) {
        return { ready: false, reason: `cannot reach ${url}: ${(error as Error).message}` };
    }
}

/** Asks the server for one token so that a default model unloaded to make room is loaded again. */
async function nudgeDefaultModel(url: string, apiKey: string | undefined): Promise<void> {
    await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(apiKey !== undefined ? { authorization: `Bearer ${apiKey}` } : {}) },
        body: JSON.stringify({ prompt: "warmup", max_tokens: 1 }),
        signal: AbortSignal.timeout(600_000)
    }).catch(() => undefined);
}

export function registerWarmupCommand(program: Command): void {
    program
        .command("warmup")
        .description("load the default model through a running server and wait until it is ready")
        .option("--url <url>", "server URL (default: http://<host>:<port> from the config)")
        .option("--timeout <seconds>", "give up after this long", parseSeconds, 600)
        .option("--api-key <key>", "API key for the server (default: the first of apiKeys)")
        .action(async (options: WarmupOptions, command: Command) => {
            try {
                const config = loadConfig({ cli: configCliOptions(command) });
                const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
                const url = (options.url ?? `http://${host}:${config.port}`).replace(/\/+$/, "");
                const apiKey = options.apiKey ?? config.apiKeys[0];
                const deadline = Date.now() + options.timeout * 1000;
                let nudged = false;
                for (;;) {
                    const state = await readiness(url);
                    if (state.ready) {
                        process.stdout.write(`ready: ${url}\n`);
                        process.exitCode = EXIT_OK;
                        return;
                    }
                    if (!nudged && /not loaded/.test(state.reason)) {
                        nudged = true;
                        void nudgeDefaultModel(url, apiKey);
                    }
                    if (Date.now() > deadline) {
                        process.stderr.write(`mentator: not ready after ${options.timeout} s: ${state.reason}\n`);
                        process.exitCode = EXIT_FAILURE;
                        return;
                    }
                    await new Promise((resolve) => setTimeout(resolve, 250));
                }
            } catch (error) {
                process.exitCode = reportError(error);
            }
        });
}
