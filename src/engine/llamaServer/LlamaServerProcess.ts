import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import { EngineUnavailableError } from "../engineErrors.js";

/** The logging a managed process needs; a pino logger fits. */
export interface ProcessLog {
    debug(obj: object, msg: string): void;
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
}

export interface RestartPolicy {
    /** First delay after a crash. Default 250 ms. */
    initialDelayMs?: number;
    /** Longest delay; the delay doubles per consecutive failure up to this. Default 30 s. */
    maxDelayMs?: number;
    /** After this many consecutive failures, requests fail at once (503) instead of waiting for the restart. Default 3. */
    waitLimit?: number;
    /** A process that stayed up this long resets the failure count. Default 60 s. */
    stableMs?: number;
}

export interface LlamaServerProcessOptions {
    /** Model id, for logs and errors. */
    modelId: string;
    /** What the process serves, for logs: "generation", "embeddings". */
    role: string;
    binary: string;
    /** llama-server arguments except --host and --port, which are added per start. */
    args: string[];
    log: ProcessLog;
    /** Time a start may take until /health answers 200 (model loading included). Default 10 min. */
    readyTimeoutMs?: number;
    restart?: RestartPolicy;
    /** Environment of the child. Default: this process's, without LLAMA_ARG_* (they would override our flags). */
    env?: NodeJS.ProcessEnv;
}

type State =
    | { kind: "idle" }
    | { kind: "starting"; ready: Promise<void> }
    | { kind: "ready"; since: number }
    | { kind: "waiting"; until: number; ready: Promise<void> }
    | { kind: "stopped" };

const LOG_TAIL_LINES = 40;
const HEALTH_POLL_MS = 50;
/** Children still running; killed when this process exits so no llama-server outlives us. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
    if (exitHookInstalled) return;
    exitHookInstalled = true;
    process.once("exit", () => {
        for (const child of liveChildren) child.kill("SIGKILL");
    });
}

/**
 * util-linux's setpriv, when present: `setpriv --pdeathsig KILL -- llama-server ...` makes the kernel kill
 * llama-server if this process dies without cleaning up (SIGKILL, OOM), so no orphan keeps the model in
 * memory. setpriv execs llama-server, so the pid and signals are llama-server's own.
 */
const setprivPath: Promise<string | undefined> = (async () => {
    if (process.platform !== "linux") return undefined;
    for (const candidate of ["/usr/bin/setpriv", "/bin/setpriv"]) {
        try {
            await access(candidate, constants.X_OK);
            return candidate;
        } catch {
            // try the next
        }
    }
    return undefined;
})();

/** A free loopback port (the kernel's choice), released right away for the child to bind. */
export async function findFreePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = createServer();
        server.unref();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
        });
    });
}

/** The environment for llama-server: ours, minus LLAMA_ARG_* overrides, with the binary's folder on the loader path. */
export function llamaServerEnv(binary: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(base)) if (!key.startsWith("LLAMA_ARG_")) env[key] = value;
    // Builds with shared libraries keep them next to the binary.
    const dir = path.dirname(binary);
    env.LD_LIBRARY_PATH = env.LD_LIBRARY_PATH !== undefined && env.LD_LIBRARY_PATH !== "" ? `${dir}:${env.LD_LIBRARY_PATH}` : dir;
    return env;
}

/**
 * One managed llama-server process: a private loopback port, a readiness wait on /health, its output in our
 * log, restarts with exponential back-off when it dies, and a clean stop. Requests ask `endpoint()` for the
 * base URL: it waits through a restart, or fails fast (EngineUnavailableError) while the process crash-loops.
 */
export class LlamaServerProcess {
    private readonly options: LlamaServerProcessOptions;
    private readonly policy: Required<RestartPolicy>;
    private state: State = { kind: "idle" };
    private child: ChildProcess | undefined;
    private port = 0;
    private failures = 0;
    private restartTimer: NodeJS.Timeout | undefined;
    private readonly tail: string[] = [];
    private lastExit = "";
    /** Incremented per spawned child, so requests can tell whether the process they used has died. */
    private generation = 0;

    public constructor(options: LlamaServerProcessOptions) {
        this.options = options;
        this.policy = {
            initialDelayMs: options.restart?.initialDelayMs ?? 250,
            maxDelayMs: options.restart?.maxDelayMs ?? 30_000,
            waitLimit: options.restart?.waitLimit ?? 3,
            stableMs: options.restart?.stableMs ?? 60_000
        };
    }

    public get pid(): number | undefined {
        return this.child?.pid;
    }

    /** Which child is current; changes when the process dies. */
    public get currentGeneration(): number {
        return this.generation;
    }

    /** True while a child is up and answered /health. */
    public get isReady(): boolean {
        return this.state.kind === "ready";
    }

    /** The last lines the process printed, for error messages. */
    public logTail(lines = 12): string {
        return this.tail.slice(-lines).join("\n");
    }

    /** Why the last child ended ("exit code 1", "signal SIGKILL"), empty if none has. */
    public get lastExitReason(): string {
        return this.lastExit;
    }

    /**
     * Starts the process and waits until it serves. Throws with the process's last output when it exits or
     * does not become ready; `signal` aborts the start (the child is killed).
     */
    public async start(signal?: AbortSignal): Promise<void> {
        if (this.state.kind !== "idle") throw new Error("already started");
        const ready = this.spawnChild(signal);
        this.state = { kind: "starting", ready };
        try {
            await ready;
        } catch (error) {
            this.state = { kind: "stopped" };
            throw error;
        }
    }

    /** The base URL to send a request to, once the process serves; waits through a restart. */
    public async endpoint(signal: AbortSignal): Promise<{ url: string; generation: number }> {
        for (;;) {
            signal.throwIfAborted();
            const state = this.state;
            switch (state.kind) {
                case "ready":
                    return { url: `http://127.0.0.1:${this.port}`, generation: this.generation };
                case "stopped":
                case "idle":
                    throw new EngineUnavailableError(this.options.modelId, "the llama-server process is stopped");
                case "waiting":
                    if (this.failures >= this.policy.waitLimit) {
                        const seconds = Math.max(1, Math.ceil((state.until - Date.now()) / 1000));
                        throw new EngineUnavailableError(
                            this.options.modelId,
                            `llama-server keeps failing (${this.failures} times in a row, last: ${this.lastExit}); next restart in ${seconds} s`,
                            seconds
                        );
                    }
                    await waitFor(state.ready, signal);
                    break;
                case "starting":
                    await waitFor(state.ready, signal);
                    break;
            }
        }
    }

    /** Stops the process for good (SIGTERM, SIGKILL after `graceMs`); no restart follows. */
    public async stop(graceMs = 5000): Promise<void> {
        this.state = { kind: "stopped" };
        if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
        const child = this.child;
        if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
    }

    /** Spawns a child on a fresh port and resolves when /health says 200. */
    private spawnChild(signal?: AbortSignal): Promise<void> {
        return (async () => {
            this.port = await findFreePort();
            const args = [...this.options.args, "--host", "127.0.0.1", "--port", String(this.port)];
            const setpriv = await setprivPath;
            const [command, commandArgs] = setpriv !== undefined ? [setpriv, ["--pdeathsig", "KILL", "--", this.options.binary, ...args]] : [this.options.binary, args];
            const child = spawn(command, commandArgs, {
                env: this.options.env ?? llamaServerEnv(this.options.binary),
                stdio: ["ignore", "pipe", "pipe"]
            });
            this.child = child;
            this.generation++;
            liveChildren.add(child);
            installExitHook();
            const started = performance.now();
            this.options.log.info(
                { model: this.options.modelId, role: this.options.role, pid: child.pid, port: this.port, args: args.join(" ") },
                "llama-server starting"
            );
            this.pipeOutput(child);

            const exited = new Promise<string>((resolve) => {
                child.once("error", (error) => resolve(`could not start ${this.options.binary}: ${error.message}`));
                child.once("exit", (code, exitSignal) => resolve(exitSignal !== null ? `signal ${exitSignal}` : `exit code ${code ?? "?"}`));
            });
            void exited.then((reason) => this.onExit(child, reason));

            const abort = new AbortController();
            const onAbort = (): void => abort.abort();
            signal?.addEventListener("abort", onAbort, { once: true });
            try {
                const outcome = await Promise.race([
                    this.pollHealth(abort.signal).then(() => "ready" as const),
                    exited.then((reason) => ({ reason })),
                    delay(this.options.readyTimeoutMs ?? 600_000, abort.signal).then(() => "timeout" as const)
                ]);
                if (outcome === "ready") {
                    if (signal?.aborted) throw signal.reason as Error;
                    this.state = { kind: "ready", since: Date.now() };
                    this.options.log.info(
                        { model: this.options.modelId, role: this.options.role, pid: child.pid, seconds: Number(((performance.now() - started) / 1000).toFixed(3)) },
                        "llama-server ready"
                    );
                    return;
                }
                child.kill("SIGKILL");
                if (signal?.aborted) throw signal.reason as Error;
                const why = outcome === "timeout" ? `not ready after ${this.options.readyTimeoutMs ?? 600_000} ms` : outcome.reason;
                throw new Error(`llama-server did not start (${why})${this.tail.length > 0 ? `; its last output:\n${this.logTail()}` : ""}`);
            } catch (error) {
                child.kill("SIGKILL");
                throw error;
            } finally {
                abort.abort();
                signal?.removeEventListener("abort", onAbort);
            }
        })();
    }

    private async pollHealth(signal: AbortSignal): Promise<void> {
        while (!signal.aborted) {
            try {
                const response = await fetch(`http://127.0.0.1:${this.port}/health`, { signal });
                await response.arrayBuffer();
                if (response.status === 200) return;
            } catch {
                // not listening yet
            }
            await delay(HEALTH_POLL_MS, signal);
        }
    }

    private pipeOutput(child: ChildProcess): void {
        const log = this.options.log;
        const context = { model: this.options.modelId, role: this.options.role, pid: child.pid };
        for (const stream of [child.stdout, child.stderr]) {
            let partial = "";
            stream?.setEncoding("utf8");
            stream?.on("data", (chunk: string) => {
                const lines = (partial + chunk).split("\n");
                partial = lines.pop() ?? "";
                for (const raw of lines) {
                    const line = raw.trimEnd();
                    if (line === "") continue;
                    this.tail.push(line);
                    if (this.tail.length > LOG_TAIL_LINES) this.tail.shift();
                    if (/\b(error|failed|exception|abort|assert)/i.test(line)) log.warn(context, `llama-server: ${line}`);
                    else log.debug(context, `llama-server: ${line}`);
                }
            });
        }
    }

    private onExit(child: ChildProcess, reason: string): void {
        liveChildren.delete(child);
        if (child !== this.child) return;
        this.lastExit = reason;
        const state = this.state;
        if (state.kind === "stopped" || state.kind === "idle") {
            this.options.log.info({ model: this.options.modelId, role: this.options.role, pid: child.pid, reason }, "llama-server stopped");
            return;
        }
        if (state.kind === "starting" && this.failures === 0 && this.generation === 1) return; // first start: start() reports it
        this.generation++; // requests on the dead child see a new generation
        if (state.kind === "ready" && Date.now() - state.since >= this.policy.stableMs) this.failures = 0;
        this.failures++;
        const delayMs = Math.min(this.policy.maxDelayMs, this.policy.initialDelayMs * 2 ** (this.failures - 1));
        this.options.log.error(
            { model: this.options.modelId, role: this.options.role, pid: child.pid, reason, failures: this.failures, restartInMs: delayMs, lastOutput: this.logTail(8) },
            "llama-server exited unexpectedly; restarting"
        );
        let resolveReady!: () => void;
        let rejectReady!: (error: Error) => void;
        const ready = new Promise<void>((resolve, reject) => {
            resolveReady = resolve;
            rejectReady = reject;
        });
        ready.catch(() => undefined);
        this.state = { kind: "waiting", until: Date.now() + delayMs, ready };
        this.restartTimer = setTimeout(() => {
            this.restartTimer = undefined;
            if (this.state.kind !== "waiting") return;
            const attempt = this.spawnChild();
            this.state = { kind: "starting", ready: attempt };
            attempt.then(resolveReady, (error: unknown) => {
                // The exit handler of the failed child has scheduled the next attempt (state "waiting").
                this.options.log.warn({ model: this.options.modelId, role: this.options.role, err: (error as Error).message }, "llama-server restart failed");
                rejectReady(error as Error);
            });
        }, delayMs);
        this.restartTimer.unref();
    }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
        if (signal.aborted) return resolve();
        const timer = setTimeout(done, ms);
        function done(): void {
            clearTimeout(timer);
            signal.removeEventListener("abort", done);
            resolve();
        }
        signal.addEventListener("abort", done, { once: true });
    });
}

/** Waits for a state change; a failed restart is not this caller's error (endpoint() looks at the new state). */
async function waitFor(ready: Promise<void>, signal: AbortSignal): Promise<void> {
    await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason as Error);
        signal.addEventListener("abort", onAbort, { once: true });
        ready.then(
            () => {
                signal.removeEventListener("abort", onAbort);
                resolve();
            },
            () => {
                // The exit handler moves the state on; a short pause keeps the caller's loop off a settled promise.
                setTimeout(() => {
                    signal.removeEventListener("abort", onAbort);
                    resolve();
                }, 10);
            }
        );
    });
}
