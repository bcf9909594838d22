import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import fs from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { EngineRequestError, EngineUnavailableError } from "../../src/engine/engineErrors.js";
import { LlamaServerModel } from "../../src/engine/llamaServer/LlamaServerModel.js";
import { LlamaServerProcess, type ProcessLog } from "../../src/engine/llamaServer/LlamaServerProcess.js";
import type { GenerationDelta } from "../../src/engine/types.js";
import { writeFakeLlamaServer } from "../helpers/fakeLlamaServer.js";

// The lifecycle of a managed llama-server (ports, readiness, restarts with back-off, stop) against a stand-in
// script, so it runs without a llama.cpp build; llamaServerEngine.test.ts drives the real binary.

const quiet: ProcessLog = { debug() {}, info() {}, warn() {}, error() {} };
let dir: string;
let binary: string;
const started: LlamaServerProcess[] = [];

beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "mentator-fake-llama-"));
    binary = await writeFakeLlamaServer(dir);
});

afterEach(async () => {
    await Promise.all(started.splice(0).map((process) => process.stop()));
});

function makeProcess(env: Record<string, string> = {}, restart = { initialDelayMs: 50, maxDelayMs: 400, waitLimit: 3 }): LlamaServerProcess {
    const process = new LlamaServerProcess({
        modelId: "m",
        role: "generation",
        binary,
        args: ["-m", "/models/m.gguf"],
        log: quiet,
        restart,
        env: { ...globalThis.process.env, ...env }
    });
    started.push(process);
    return process;
}

function waitForExit(pid: number): Promise<void> {
    return new Promise((resolve) => {
        const timer = setInterval(() => {
            try {
                globalThis.process.kill(pid, 0);
            } catch {
                clearInterval(timer);
                resolve();
            }
        }, 10);
    });
}

const never = new AbortController().signal;

describe("LlamaServerProcess", () => {
    it("waits for /health, restarts after a crash and serves again; stop() ends it for good", async () => {
        const process = makeProcess({ FAKE_READY_MS: "300" });
        const startedAt = Date.now();
        await process.start();
        expect(Date.now() - startedAt).toBeGreaterThanOrEqual(300);
        const first = await process.endpoint(never);
        const pid = process.pid!;
        globalThis.process.kill(pid, "SIGKILL");
        await waitForExit(pid);
        const second = await process.endpoint(never); // waits through the restart
        expect(process.pid).not.toBe(pid);
        expect(second.generation).toBeGreaterThan(first.generation);
        expect((await fetch(`${second.url}/health`)).status).toBe(200);
        expect(process.lastExitReason).toBe("signal SIGKILL");

        const last = process.pid!;
        await process.stop();
        await waitForExit(last);
        await expect(process.endpoint(never)).rejects.toBeInstanceOf(EngineUnavailableError);
    });

    it("leaves no llama-server behind when its parent is killed outright", async () => {
        const entry = new URL("../../distjs/engine/llamaServer/LlamaServerProcess.js", import.meta.url).href;
        const script = `
            import { LlamaServerProcess } from ${JSON.stringify(entry)};
            const quiet = { debug() {}, info() {}, warn() {}, error() {} };
            const child = new LlamaServerProcess({ modelId: "m", role: "generation", binary: ${JSON.stringify(binary)}, args: ["-m", "x"], log: quiet });
            await child.start();
            console.log(child.pid);
            setInterval(() => {}, 1000);
        `;
        const parent = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
        const pid = await new Promise<number>((resolve) => parent.stdout.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
        expect(() => globalThis.process.kill(pid, 0)).not.toThrow();
        parent.kill("SIGKILL");
        await waitForExit(pid);
        expect(() => globalThis.process.kill(pid, 0)).toThrow();
    });

    it("reports a start that fails with the process's own output", async () => {
        const failFile = path.join(dir, "fail-start");
        await fs.writeFile(failFile, "1");
        const process = makeProcess({ FAKE_FAIL_FILE: failFile });
        await expect(process.start()).rejects.toThrow(/exit code 3.*failing on purpose/s);
    });

    it("fails requests fast (503) while the process crash-loops, and recovers when it starts again", async () => {
        const failFile = path.join(dir, "fail-loop");
        await fs.writeFile(failFile, "0");
        const process = makeProcess({ FAKE_FAIL_FILE: failFile }, { initialDelayMs: 50, maxDelayMs: 300, waitLimit: 2 });
        await process.start();
        await fs.writeFile(failFile, "3"); // the next three starts fail
        const pid = process.pid!;
        globalThis.process.kill(pid, "SIGKILL");
        await waitForExit(pid);
        let unavailable: unknown;
        for (let i = 0; i < 100 && unavailable === undefined; i++) {
            await process.endpoint(never).catch((error: unknown) => (unavailable = error));
            await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(unavailable).toBeInstanceOf(EngineUnavailableError);
        expect((unavailable as Error).message).toMatch(/keeps failing/);
        // Back-off keeps trying; after the failures run out it serves again.
        const deadline = Date.now() + 5000;
        while (!process.isReady && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        expect(process.isReady).toBe(true);
        await expect(process.endpoint(never)).resolves.toMatchObject({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
    });
});

describe("LlamaServerModel on a crashing process", () => {
    it("gives the request in flight a clean 502-class error and serves the next one", async () => {
        const process = makeProcess();
        await process.start();
        const model = await LlamaServerModel.create({
            id: "m",
            spec: { id: "m", path: "/models/m.gguf", contextSize: 256, parallel: 2 },
            process,
            log: quiet,
            parallel: 2,
            embeddingProcess: async () => makeProcess(),
            onDispose: () => undefined
        });
        expect(model.info).toMatchObject({ contextSize: 256, parallel: 2, trainedContextSize: 4096 });
        const request = { messages: [{ role: "user" as const, content: "hi" }], sampling: {} };
        const deltas: GenerationDelta[] = [];
        const inFlight = model.chat(request, { streamed: true, onDelta: (delta) => deltas.push(delta) }, never);
        while (deltas.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
        globalThis.process.kill(model.pid!, "SIGKILL");
        const error = await inFlight.catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(EngineRequestError);
        expect((error as Error).message).toMatch(/exited during the request \(signal SIGKILL\)/);

        const next = await model.chat(request, {}, never);
        expect(next).toMatchObject({ finishReason: "length", completionTokens: 20, promptTokens: 4 });
        expect(next.text).toBe(Array.from({ length: 20 }, (_, i) => `t${i + 1}`).join(""));
        const streamed = await model.chat(request, { streamed: true }, never);
        expect(streamed).toEqual(next);

        // Not streamed: killed while it waits for the answer, it is the same clean error.
        const waiting = model.chat(request, {}, never);
        await new Promise((resolve) => setTimeout(resolve, 300));
        globalThis.process.kill(model.pid!, "SIGKILL");
        await expect(waiting).rejects.toThrow(/exited during the request/);
        await expect(model.chat(request, {}, never)).resolves.toMatchObject({ completionTokens: 20 });
        await model.dispose();
    });
});
