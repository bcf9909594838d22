import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { makeCorruptModel, makeTinyModel } from "../helpers/models.js";
import { runCli, startServer, tempDataDir, type RunningServer } from "../helpers/server.js";

const require = createRequire(import.meta.url);
const running: RunningServer[] = [];

async function start(...args: Parameters<typeof startServer>): Promise<RunningServer> {
    const server = await startServer(...args);
    running.push(server);
    return server;
}

afterEach(async () => {
    await Promise.all(running.splice(0).map((server) => server.stop("SIGKILL")));
});

async function json(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(url);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("mentator serve", () => {
    it("starts with no model: config created, not ready with a reason, then ready once a model is added", async () => {
        const dataDir = tempDataDir();
        const server = await start({ dataDir });
        expect(existsSync(join(dataDir, "mentator-llm-service.conf.jsonc"))).toBe(true);
        expect(existsSync(join(dataDir, "mentator-llm-service.db"))).toBe(true);

        const health = await json(`${server.url}/health`);
        expect(health.status).toBe(200);
        expect(health.body).toMatchObject({ models_present: false, models_dir: join(dataDir, "models"), status: "degraded" });
        const ready = await json(`${server.url}/health/ready`);
        expect(ready.status).toBe(503);
        expect(String(ready.body.reason)).toContain("no models");
        expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
        const version = await json(`${server.url}/state/version`);
        expect(version.body).toMatchObject({ name: "mentator-llm-service", engine: { name: "node-llama-cpp", backend: "cpu" } });
        const metrics = await (await fetch(`${server.url}/metrics`)).text();
        expect(metrics).toContain("mentator:models_loaded 0");
        expect((await server.stop()).code).toBe(0);

        mkdirSync(join(dataDir, "models"), { recursive: true });
        await makeTinyModel(join(dataDir, "models"), "tiny");
        const restarted = await start({ dataDir });
        await restarted.waitReady();
        const after = await json(`${restarted.url}/health`);
        expect(after.body).toMatchObject({ status: "healthy", models_present: true, default_model: "tiny" });
        expect(after.body.models).toEqual([{ id: "tiny", loaded: true, state: "loaded" }]);
        expect(await (await fetch(`${restarted.url}/metrics`)).text()).toMatch(/mentator:model_load_seconds_count\{model="tiny"\} 1/);
    });

    it("lists a corrupt model with its error while the good one serves", async () => {
        const dataDir = tempDataDir();
        const models = join(dataDir, "models");
        mkdirSync(models, { recursive: true });
        await makeTinyModel(models, "good");
        await makeCorruptModel(models, "broken");
        const server = await start({ dataDir, args: [] });
        await server.waitReady();
        const health = await json(`${server.url}/health`);
        const entries = health.body.models as Array<{ id: string; state: string; error?: string }>;
        expect(entries.find((model) => model.id === "good")?.state).toBe("loaded");
        const broken = entries.find((model) => model.id === "broken");
        expect(broken?.state).toBe("error");
        expect(broken?.error).toMatch(/GGUF/i);
        expect(health.body.status).toBe("degraded");

        const list = await runCli(["models", "list", "--data-dir", dataDir]);
        expect(list.code).toBe(0);
        expect(list.stdout).toMatch(/good\s+.*ok/);
        expect(list.stdout).toMatch(/broken\s+.*error: cannot read GGUF/);
        const listJson = JSON.parse((await runCli(["models", "list", "--json", "--data-dir", dataDir])).stdout) as { models: Array<{ id: string; state: string }> };
        expect(listJson.models.map((model) => [model.id, model.state])).toEqual([
            ["broken", "error"],
            ["good", "available"]
        ]);
    });

    it("exits 0 within 5 s on SIGTERM when idle", async () => {
        const dataDir = tempDataDir();
        mkdirSync(join(dataDir, "models"), { recursive: true });
        await makeTinyModel(join(dataDir, "models"), "tiny");
        const server = await start({ dataDir });
        await server.waitReady();
        const { code, ms } = await server.stop("SIGTERM");
        expect(code).toBe(0);
        expect(ms).toBeLessThan(5000);
        expect(server.logs()).toContain("model unloaded");
    });

    it("exits cleanly on SIGTERM while the default model is loading", async () => {
        const dataDir = tempDataDir();
        mkdirSync(join(dataDir, "models"), { recursive: true });
        await makeTinyModel(join(dataDir, "models"), "tiny");
        const server = await start({ dataDir });
        // The preload starts right after listening; signal at once.
        const { code } = await server.stop("SIGTERM");
        expect(code).toBe(0);
        expect(server.logs()).toContain('"msg":"stopped"');
    });

    it("Docker mode puts config, DB and models under the config file's directory and listens on 0.0.0.0:19777", async () => {
        const root = tempDataDir();
        const file = join(root, "volume", "mentator-llm-service.conf.jsonc");
        const server = await start({ rawArgs: ["--conf-docker", file] });
        expect(server.port).toBe(19777);
        expect(server.logs()).toContain('"host":"0.0.0.0","port":19777');
        expect(existsSync(file)).toBe(true);
        expect(existsSync(join(root, "volume", "mentator-llm-service.db"))).toBe(true);
        expect(existsSync(join(root, "volume", "models"))).toBe(true);
        const health = await json(`${server.url}/health`);
        expect(health.body.models_dir).toBe(join(root, "volume", "models"));
    });

    it.each([
        ["a syntax error", `{\n  "port": 19777,\n  "host": ,\n}`, /mentator-llm-service\.conf\.jsonc:3:11: syntax error/],
        ["a wrong type", `{\n  "limits": { "maxQueue": "many" }\n}`, /conf\.jsonc:2:15: limits\.maxQueue: expected number/],
        ["an unknown key", `{\n  "prot": 1\n}`, /conf\.jsonc:2:3: prot: unknown key/]
    ])("exits 2 on a config with %s, naming file and line", async (_name, text, pattern) => {
        const dataDir = tempDataDir();
        writeFileSync(join(dataDir, "mentator-llm-service.conf.jsonc"), text);
        const result = await runCli(["serve", "--data-dir", dataDir, "--port", "0"]);
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(pattern);
    });

    it("exits 1 naming the reason when a forced GPU backend is not usable", async () => {
        const result = await runCli(["serve", "--data-dir", tempDataDir(), "--port", "0", "--gpu", "cuda"]);
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/cuda/i);
    });

    it("exits 1 naming the address when the port is taken, and stops the default model it had started loading", async () => {
        const dataDir = tempDataDir();
        await makeTinyModel(join(dataDir, "models"));
        const blocker = createServer();
        await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
        const port = (blocker.address() as AddressInfo).port;
        try {
            // Exiting at all shows the load begun before listening was stopped rather than awaited or left behind.
            const result = await runCli(["serve", "--data-dir", dataDir, "--port", String(port)]);
            expect(result.code).toBe(1);
            expect(result.stderr).toContain(`cannot listen on 127.0.0.1:${port}`);
            expect(result.stderr).toContain("EADDRINUSE");
        } finally {
            blocker.close();
        }
    });

    it("exits 1 with a clear message when the DB file is not a database", async () => {
        const dataDir = tempDataDir();
        writeFileSync(join(dataDir, "mentator-llm-service.db"), "this is not sqlite".repeat(100));
        const result = await runCli(["serve", "--data-dir", dataDir, "--port", "0"]);
        expect(result.code).toBe(1);
        expect(result.stderr).toContain("is not a SQLite database");
    });

    it("exits 1 with a clear message when another process holds the DB locked", async () => {
        const dataDir = tempDataDir();
        const dbPath = join(dataDir, "mentator-llm-service.db");
        // Another process takes an exclusive lock and keeps it.
        const holder = spawn(
            process.execPath,
            [
                "-e",
                `const D=require(${JSON.stringify(require.resolve("better-sqlite3"))});const d=new D(${JSON.stringify(dbPath)});d.pragma("locking_mode=EXCLUSIVE");d.exec("CREATE TABLE IF NOT EXISTS x(a);BEGIN EXCLUSIVE;INSERT INTO x VALUES(1)");console.log("locked");setInterval(()=>{},1000)`
            ],
            { stdio: ["ignore", "pipe", "inherit"] }
        );
        try {
            await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
            const result = await runCli(["serve", "--data-dir", dataDir, "--port", "0"]);
            expect(result.code).toBe(1);
            expect(result.stderr).toContain("is locked by another process");
        } finally {
            holder.kill("SIGKILL");
        }
        // The file is still a valid database afterwards: nothing half-written.
        const db = new BetterSqlite3(dbPath);
        expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
        db.close();
    });

    it("warmup waits until the server is ready, and fails clearly when it cannot be reached", async () => {
        const dataDir = tempDataDir();
        await makeTinyModel(join(dataDir, "models"), "tiny");
        const server = await start({ dataDir });
        const warm = await runCli(["warmup", "--url", server.url, "--timeout", "60"]);
        expect(warm.code).toBe(0);
        expect(warm.stdout).toContain("ready");
        expect((await fetch(`${server.url}/health/ready`)).status).toBe(200);
        const unreachable = await runCli(["warmup", "--url", "http://127.0.0.1:1", "--timeout", "1"]);
        expect(unreachable.code).toBe(1);
        expect(unreachable.stderr).toContain("cannot reach");
    });

    it("answers unknown routes with OpenAI's error shape", async () => {
        const server = await start();
        const response = await fetch(`${server.url}/nope`);
        expect(response.status).toBe(404);
        expect(await response.json()).toMatchObject({ error: { message: expect.stringContaining("no route"), type: "invalid_request_error" } });
        expect(readFileSync(join(server.dataDir, "mentator-llm-service.conf.jsonc"), "utf8")).toContain("19777");
    });
});
