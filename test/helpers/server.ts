import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ENTRY = new URL("../../distjs/index.js", import.meta.url).pathname;

export interface RunningServer {
    url: string;
    port: number;
    dataDir: string;
    process: ChildProcess;
    /** Everything the server logged so far. */
    logs(): string;
    /** Sends a signal and waits for the exit; returns the exit code and how long it took. */
    stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
    waitReady(timeoutMs?: number): Promise<void>;
}

export interface StartServerOptions {
    dataDir?: string;
    args?: string[];
    env?: Record<string, string>;
    /** Replace the default `serve --data-dir D --port 0` arguments entirely. */
    rawArgs?: string[];
}

export function tempDataDir(prefix = "mentator-test-"): string {
    return mkdtempSync(join(tmpdir(), prefix));
}

/** Env for child processes: no MENTATOR_* leaking in from the developer's shell. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
        if (!key.startsWith("MENTATOR_") && !/^(S3_|GCS_|CLOUDRU_|RUNPOD_)/.test(key) && key !== "MODELS_DIR" && key !== "LOCK_PATH") env[key] = value;
    }
    // One llama.cpp thread: tiny test models decode in under a millisecond per token that way, while two
    // busy-waiting threads on a shared 2-core machine can take hundreds of milliseconds.
    return { ...env, MENTATOR_LOG_LEVEL: "info", MENTATOR_THREADS: "1", ...extra };
}

/** Spawns `mentator serve` on a free port and resolves once it listens. */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
    const dataDir = options.dataDir ?? tempDataDir();
    const args = [ENTRY, ...(options.rawArgs ?? ["serve", "--data-dir", dataDir, "--port", "0", ...(options.args ?? [])])];
    const child = spawn(process.execPath, args, { env: cleanEnv(options.env), stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));

    const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server did not listen in time:\n${output}`)), 60_000);
        const check = (): void => {
            const match = /Server listening at http:\/\/[^:]+:(\d+)/.exec(output);
            if (match !== null) {
                clearTimeout(timer);
                resolve(Number(match[1]));
            }
        };
        child.stdout.on("data", check);
        child.stderr.on("data", check);
        void exited.then((code) => {
            clearTimeout(timer);
            reject(new Error(`server exited with ${code} before listening:\n${output}`));
        });
    });
    const url = `http://127.0.0.1:${port}`;
    return {
        url,
        port,
        dataDir,
        process: child,
        logs: () => output,
        async stop(signal = "SIGTERM") {
            const started = performance.now();
            if (child.exitCode !== null) return { code: child.exitCode, ms: 0 };
            child.kill(signal);
            const code = await exited;
            return { code, ms: performance.now() - started };
        },
        async waitReady(timeoutMs = 60_000) {
            const deadline = Date.now() + timeoutMs;
            for (;;) {
                const response = await fetch(`${url}/health/ready`).catch(() => undefined);
                if (response?.status === 200) return;
                if (Date.now() > deadline) throw new Error(`not ready in ${timeoutMs} ms: ${await response?.text()}\n${output}`);
                await new Promise((resolve) => setTimeout(resolve, 100));
            }
        }
    };
}

export interface CliResult {
    code: number | null;
    stdout: string;
    stderr: string;
}

/** Runs the built CLI to completion. */
export function runCli(args: string[], options: { env?: Record<string, string>; cwd?: string; input?: string } = {}): Promise<CliResult> {
    return new Promise((resolve) => {
        const child = spawn(process.execPath, [ENTRY, ...args], { env: cleanEnv(options.env), cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.stdin.end(options.input ?? "");
        child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
}
