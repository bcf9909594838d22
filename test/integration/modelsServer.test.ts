import { readFileSync, existsSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Ollama, type ProgressResponse } from "ollama";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeTinyModel } from "../helpers/models.js";
import { sha256Hex, startModelHttpServer, type ModelHttpServer } from "../helpers/modelHttpServer.js";
import { startServer, tempDataDir, type RunningServer } from "../helpers/server.js";

let http: ModelHttpServer;
let tinyBytes: Buffer;
const running: RunningServer[] = [];

beforeAll(async () => {
    http = await startModelHttpServer();
    const scratch = tempDataDir("mentator-tiny-");
    tinyBytes = readFileSync(await makeTinyModel(scratch, "source"));
});

afterEach(async () => {
    await Promise.all(running.splice(0).map((server) => server.stop("SIGKILL")));
});

afterAll(async () => {
    await http.close();
});

async function start(...args: Parameters<typeof startServer>): Promise<RunningServer> {
    const server = await startServer(...args);
    running.push(server);
    return server;
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(url);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await probe();
        if (value !== undefined) return value;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

describe("Ollama-compatible model API", () => {
    it("lets the ollama npm client pull (with progress), list, show, ps and delete", async () => {
        const dataDir = tempDataDir();
        await makeTinyModel(join(dataDir, "models"), "tiny");
        const server = await start({ dataDir });
        await server.waitReady();
        const ollama = new Ollama({ host: server.url });

        http.files.set("/ollama/second.gguf", { body: tinyBytes, bytesPerSecond: 1024 * 1024 });
        const progress: ProgressResponse[] = [];
        for await (const part of await ollama.pull({ model: `${http.url}/ollama/second.gguf`, stream: true })) progress.push(part);
        const statuses = progress.map((part) => part.status);
        expect(statuses[0]).toBe("pulling manifest");
        expect(statuses).toContain("verifying sha256 digest");
        expect(statuses.at(-1)).toBe("success");
        const downloading = progress.filter((part) => part.status === "downloading");
        expect(downloading.length).toBeGreaterThan(1);
        expect(downloading.at(-1)).toMatchObject({ total: tinyBytes.length, completed: tinyBytes.length });
        expect(downloading.every((part) => part.completed <= part.total)).toBe(true);
        expect(sha256Hex(readFileSync(join(dataDir, "models", "second.gguf")))).toBe(sha256Hex(tinyBytes));

        const list = await ollama.list();
        const names = list.models.map((model) => model.name).sort();
        expect(names).toEqual(["second", "tiny"]);
        const second = list.models.find((model) => model.name === "second")!;
        expect(second).toMatchObject({ size: tinyBytes.length, digest: sha256Hex(tinyBytes), details: { format: "gguf" } });
        expect(second.details.family).not.toBe("");

        const shown = await ollama.show({ model: "second:latest" });
        expect(shown.details.format).toBe("gguf");
        expect(Object.keys(shown.model_info)).toContain("general.architecture");

        const ps = await ollama.ps();
        expect(ps.models.map((model) => model.name)).toEqual(["tiny"]);

        // Pulling again is a no-op that still reports success.
        const again = await ollama.pull({ model: `${http.url}/ollama/second.gguf`, stream: false });
        expect(again.status).toBe("success");

        await ollama.delete({ model: "second" });
        expect(existsSync(join(dataDir, "models", "second.gguf"))).toBe(false);
        expect((await ollama.list()).models.map((model) => model.name)).toEqual(["tiny"]);

        await expect(ollama.delete({ model: "tiny" })).rejects.toThrow(/default model/);
        await expect(ollama.show({ model: "second" })).rejects.toThrow(/not found/);
        await expect(ollama.pull({ model: "llama3", stream: false })).rejects.toThrow(/cannot be pulled by name/);
        await expect(ollama.pull({ model: `${http.url}/ollama/absent.gguf`, stream: false })).rejects.toThrow(/not found \(HTTP 404\)/);
        await expect(ollama.show({ model: "../etc/passwd" })).rejects.toThrow(/invalid model id/);

        // A streamed pull that fails ends with an error line, which the client throws.
        const failing = await ollama.pull({ model: `${http.url}/ollama/absent2.gguf`, stream: true });
        await expect((async () => {
            for await (const part of failing) void part;
        })()).rejects.toThrow(/not found \(HTTP 404\)/);

        const raw = await fetch(`${server.url}/api/pull`, { method: "POST", body: JSON.stringify({ model: "x/../../y", stream: false }), headers: { "content-type": "application/json" } });
        expect(raw.status).toBe(400);
        expect(await raw.json()).toEqual({ error: expect.stringContaining("invalid model id") as string });
    });
});

describe("Ollama model API with API keys", () => {
    it("requires the key like every other non-probe route", async () => {
        const dataDir = tempDataDir();
        await makeTinyModel(join(dataDir, "models"), "tiny");
        const server = await start({ dataDir, args: ["--api-key", "sekret"] });
        await expect(new Ollama({ host: server.url }).list()).rejects.toThrow();
        expect((await fetch(`${server.url}/api/tags`)).status).toBe(401);
        const list = await new Ollama({ host: server.url, headers: { authorization: "Bearer sekret" } }).list();
        expect(list.models.map((model) => model.name)).toEqual(["tiny"]);
    });
});

describe("model supply at server start", () => {
    it("verifies the lock before ready: a mismatch keeps the service up but not ready, a good lock passes from the cache on restart", async () => {
        const dataDir = tempDataDir();
        const models = join(dataDir, "models");
        const tinyPath = await makeTinyModel(models, "tiny");
        const good = { models: [{ id: "tiny", file: "tiny.gguf", sha256: sha256Hex(readFileSync(tinyPath)), size: tinyBytes.length }] };
        writeFileSync(join(models, "mentator.lock.json"), JSON.stringify({ models: [{ ...good.models[0], sha256: "0".repeat(64) }] }));
        const bad = await start({ dataDir });
        const reason = await waitFor(async () => {
            const ready = await getJson(`${bad.url}/health/ready`);
            const text = String(ready.body.reason ?? "");
            return ready.status === 503 && text.includes("verification failed") ? text : undefined;
        }, "lock verification failure");
        expect(reason).toContain(`tiny.gguf: sha256 mismatch: expected ${"0".repeat(64)}, actual ${good.models[0]!.sha256}`);
        const health = await getJson(`${bad.url}/health`);
        expect(health.status).toBe(200);
        expect(health.body).toMatchObject({ status: "degraded", ready: false, model_supply: { phase: "failed" } });
        await bad.stop();

        writeFileSync(join(models, "mentator.lock.json"), JSON.stringify(good));
        const first = await start({ dataDir });
        await first.waitReady();
        expect(first.logs()).toMatch(/"fastPath":false[^\n]*model lock verified/);
        expect((await first.stop()).code).toBe(0);
        const second = await start({ dataDir });
        await second.waitReady();
        expect(second.logs()).toMatch(/"fastPath":true[^\n]*model lock verified/);
        expect(second.logs()).not.toContain("hashing model file");
    });

    it("downloads locked models that are missing (pod with an empty volume) and then serves them", async () => {
        http.files.set("/locked/pinned.gguf", { body: tinyBytes });
        const dataDir = tempDataDir();
        const lockPath = join(dataDir, "pinned.lock.json");
        writeFileSync(lockPath, JSON.stringify({ models: [{ id: "pinned", file: "pinned.gguf", sha256: sha256Hex(tinyBytes), size: tinyBytes.length, source: `${http.url}/locked/pinned.gguf` }] }));
        const server = await start({ dataDir, env: { LOCK_PATH: lockPath } });
        await server.waitReady();
        expect((await getJson(`${server.url}/health`)).body).toMatchObject({ default_model: "pinned", model_supply: { phase: "done" } });
        expect(sha256Hex(readFileSync(join(dataDir, "models", "pinned.gguf")))).toBe(sha256Hex(tinyBytes));
        await server.stop();

        // Offline, a locked model that is missing is a failure with the reason, not a download.
        rmSync(join(dataDir, "models", "pinned.gguf"));
        const offline = await start({ dataDir, env: { LOCK_PATH: lockPath, MENTATOR_OFFLINE: "1" } });
        const reason = await waitFor(async () => {
            const ready = await getJson(`${offline.url}/health/ready`);
            const text = String(ready.body.reason ?? "");
            return text.includes("verification failed") ? text : undefined;
        }, "offline lock failure");
        expect(reason).toContain("pinned.gguf: missing");
    });

    it("names a missing LOCK_PATH as the reason for not being ready", async () => {
        const dataDir = tempDataDir();
        await makeTinyModel(join(dataDir, "models"), "tiny");
        const server = await start({ dataDir, env: { LOCK_PATH: join(dataDir, "nope.lock.json") } });
        const reason = await waitFor(async () => {
            const ready = await getJson(`${server.url}/health/ready`);
            const text = String(ready.body.reason ?? "");
            return text.includes("not found") ? text : undefined;
        }, "missing lock reason");
        expect(reason).toContain(join(dataDir, "nope.lock.json"));
    });

    it("downloads a defaultModel URI in the background, shows progress in /health, and reuses the file after a restart", async () => {
        http.files.set("/default/tinyuri.gguf", { body: tinyBytes, bytesPerSecond: 150 * 1024 });
        const dataDir = tempDataDir();
        const env = { MENTATOR_DEFAULT_MODEL: `${http.url}/default/tinyuri.gguf` };
        const server = await start({ dataDir, env });
        const downloading = await waitFor(async () => {
            const health = await getJson(`${server.url}/health`);
            const models = health.body.models as Array<{ id: string; state: string; percent?: number }>;
            const entry = models.find((model) => model.state === "downloading");
            return entry !== undefined && (entry.percent ?? 0) > 0 ? { health, entry } : undefined;
        }, "downloading state");
        expect(downloading.entry.id).toBe("tinyuri");
        expect(downloading.health.body).toMatchObject({ ready: false, model_supply: { phase: "downloading", uri: env.MENTATOR_DEFAULT_MODEL } });
        const ready = await getJson(`${server.url}/health/ready`);
        if (ready.status === 503) expect(String(ready.body.reason)).toMatch(/downloading http:.*tinyuri\.gguf|loading/);
        await server.waitReady();
        expect((await getJson(`${server.url}/health`)).body).toMatchObject({ default_model: "tinyuri", status: "healthy" });
        expect(server.logs()).toContain("default model downloaded");
        await server.stop();

        // The source is gone now: a restart must not need it.
        http.files.delete("/default/tinyuri.gguf");
        const before = http.requests.length;
        const restarted = await start({ dataDir, env });
        await restarted.waitReady();
        expect(http.requests.length).toBe(before);
    });

    it("reports a failed or forbidden default model download and keeps running", async () => {
        const dataDir = tempDataDir();
        const url = `${http.url}/default/missing.gguf`;
        const failed = await start({ dataDir, env: { MENTATOR_DEFAULT_MODEL: url } });
        const reason = await waitFor(async () => {
            const ready = await getJson(`${failed.url}/health/ready`);
            const text = String(ready.body.reason ?? "");
            return text.includes("failed") ? text : undefined;
        }, "download failure");
        expect(reason).toBe(`downloading default model ${url} failed: not found (HTTP 404) (${url})`);
        expect((await fetch(`${failed.url}/health`)).status).toBe(200);
        await failed.stop();

        http.files.set("/default/offline.gguf", { body: tinyBytes });
        const offline = await start({ dataDir, env: { MENTATOR_DEFAULT_MODEL: `${http.url}/default/offline.gguf`, MENTATOR_OFFLINE: "1" } });
        const offlineReason = await waitFor(async () => {
            const ready = await getJson(`${offline.url}/health/ready`);
            const text = String(ready.body.reason ?? "");
            return text.includes("offline") ? text : undefined;
        }, "offline reason");
        expect(offlineReason).toContain("has not been downloaded and offline mode forbids downloading it");
        expect(http.requests.some((request) => request.url === "/default/offline.gguf")).toBe(false);
    });
});
