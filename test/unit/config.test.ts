import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config/ConfigError.js";
import { loadConfig } from "../../src/config/loadConfig.js";
import { parseDuration } from "../../src/config/parseDuration.js";

function tempDir(): string {
    return mkdtempSync(join(tmpdir(), "mentator-config-"));
}

function withFile(text: string): { dir: string; file: string } {
    const dir = tempDir();
    const file = join(dir, "mentator-llm-service.conf.jsonc");
    writeFileSync(file, text);
    return { dir, file };
}

function configError(run: () => unknown): ConfigError {
    try {
        run();
    } catch (error) {
        if (error instanceof ConfigError) return error;
        throw error;
    }
    throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
    it("uses defaults with data in ./data relative to the cwd", () => {
        const cwd = tempDir();
        const config = loadConfig({ cwd, env: {} });
        expect(config.port).toBe(19777);
        expect(config.host).toBe("127.0.0.1");
        expect(config.dataDir).toBe(join(cwd, "data"));
        expect(config.modelsDir).toBe(join(cwd, "data", "models"));
        expect(config.dbPath).toBe(join(cwd, "data", "mentator-llm-service.db"));
        expect(config.keepAliveMs).toBe(300_000);
        expect(config.limits.maxQueue).toBe(64);
        expect(existsSync(join(cwd, "data", "mentator-llm-service.conf.jsonc"))).toBe(false);
    });

    it("writes a commented default config on first run that loads back to the defaults", () => {
        const cwd = tempDir();
        const config = loadConfig({ cwd, env: {}, createIfMissing: true });
        expect(config.createdConfigFile).toBe(true);
        const text = readFileSync(config.configFile, "utf8");
        expect(text).toContain("// ");
        const again = loadConfig({ cwd, env: {}, createIfMissing: true });
        expect(again.createdConfigFile).toBe(false);
        expect(again.port).toBe(19777);
        expect(again.limits).toEqual(config.limits);
    });

    it("applies precedence CLI > env > file > defaults", () => {
        const { dir, file } = withFile(`{ "port": 1111, "host": "10.0.0.1", "limits": { "maxQueue": 5 }, "keepAlive": "1m" }`);
        const fileOnly = loadConfig({ cwd: dir, env: {}, cli: { config: file } });
        expect(fileOnly.port).toBe(1111);
        expect(fileOnly.limits.maxQueue).toBe(5);
        expect(fileOnly.limits.maxLoadedModels).toBe(1);
        expect(fileOnly.keepAliveMs).toBe(60_000);

        const env = { MENTATOR_PORT: "2222", MENTATOR_LIMITS_MAX_QUEUE: "7", MENTATOR_API_KEYS: "a,b" };
        const withEnv = loadConfig({ cwd: dir, env, cli: { config: file } });
        expect(withEnv.port).toBe(2222);
        expect(withEnv.limits.maxQueue).toBe(7);
        expect(withEnv.apiKeys).toEqual(["a", "b"]);
        expect(withEnv.host).toBe("10.0.0.1");

        const withCli = loadConfig({ cwd: dir, env, cli: { config: file, port: 3333, host: "127.0.0.2" } });
        expect(withCli.port).toBe(3333);
        expect(withCli.host).toBe("127.0.0.2");
        expect(withCli.limits.maxQueue).toBe(7);
    });

    it("accepts the contract's aliases (MODELS_DIR, S3_*, CLOUDRU_S3_*, GCS_*)", () => {
        const cwd = tempDir();
        const config = loadConfig({
            cwd,
            env: { MODELS_DIR: "m", CLOUDRU_S3_BUCKET: "b1", S3_FORCE_PATH_STYLE: "true", GCS_RETRIES: "5", OUTPUT_MODE: "base64" }
        });
        expect(config.modelsDir).toBe(join(cwd, "m"));
        expect(config.storage.s3.bucket).toBe("b1");
        expect(config.storage.s3.forcePathStyle).toBe(true);
        expect(config.storage.gcs.retries).toBe(5);
        expect(config.jobs.outputMode).toBe("base64");
    });

    it("uses MENTATOR_HOME as the data directory", () => {
        const cwd = tempDir();
        const home = tempDir();
        const config = loadConfig({ cwd, env: { MENTATOR_HOME: home } });
        expect(config.dataDir).toBe(home);
        expect(config.modelsDir).toBe(join(home, "models"));
    });

    it("resolves relative paths in the file against the file's directory", () => {
        const { dir, file } = withFile(`{ "modelDir": "my-models", "dbFile": "sub/x.db" }`);
        const config = loadConfig({ cwd: tempDir(), env: {}, cli: { config: file } });
        expect(config.modelsDir).toBe(join(dir, "my-models"));
        expect(config.dbPath).toBe(join(dir, "sub", "x.db"));
    });

    it("reports syntax errors with file:line:column", () => {
        const { file } = withFile(`{\n  "port": 1,\n  "host": \n}`);
        const error = configError(() => loadConfig({ env: {}, cli: { config: file } }));
        expect(error.message).toMatch(new RegExp(`${file.replace(/[.]/g, "\\.")}:4:1: syntax error`));
    });

    it("reports wrong types with the key path and the line", () => {
        const { file } = withFile(`{\n  "limits": {\n    "maxQueue": "lots"\n  }\n}`);
        const error = configError(() => loadConfig({ env: {}, cli: { config: file } }));
        expect(error.message).toContain(`${file}:3:5: limits.maxQueue: expected number`);
    });

    it("reports unknown keys with their path", () => {
        const { file } = withFile(`{ "limits": { "maxQueu": 3 }, "colour": "red" }`);
        const error = configError(() => loadConfig({ env: {}, cli: { config: file } }));
        expect(error.problems.some((problem) => problem.includes("limits.maxQueu: unknown key"))).toBe(true);
        expect(error.problems.some((problem) => problem.includes("colour: unknown key"))).toBe(true);
    });

    it("names the environment variable behind a bad value", () => {
        const error = configError(() => loadConfig({ cwd: tempDir(), env: { MENTATOR_PORT: "abc" } }));
        expect(error.message).toContain("environment variable MENTATOR_PORT: port:");
    });

    it("rejects a missing explicit config file", () => {
        const error = configError(() => loadConfig({ env: {}, cli: { config: "/nonexistent/x.jsonc" } }));
        expect(error.message).toContain("config file not found");
    });

    it("in Docker mode fixes host, port, dbFile and modelDir under the file's directory", () => {
        const { dir, file } = withFile(`{ "port": 1234, "host": "127.0.0.1", "modelDir": "/elsewhere", "dbFile": "/tmp/x.db" }`);
        const config = loadConfig({ env: {}, cli: { confDocker: file } });
        expect(config.dockerMode).toBe(true);
        expect(config.port).toBe(19777);
        expect(config.host).toBe("0.0.0.0");
        expect(config.modelsDir).toBe(join(dir, "models"));
        expect(config.dbPath).toBe(join(dir, "mentator-llm-service.db"));
    });

    it("in Docker mode creates the config file when missing", () => {
        const dir = tempDir();
        const file = join(dir, "vol", "mentator-llm-service.conf.jsonc");
        const config = loadConfig({ env: {}, cli: { confDocker: file } });
        expect(config.createdConfigFile).toBe(true);
        expect(readFileSync(file, "utf8")).toContain('"host": "0.0.0.0"');
    });
});

describe("parseDuration", () => {
    it("parses seconds, units and never", () => {
        expect(parseDuration(30)).toBe(30_000);
        expect(parseDuration("250ms")).toBe(250);
        expect(parseDuration("5m")).toBe(300_000);
        expect(parseDuration("1h")).toBe(3_600_000);
        expect(parseDuration("-1")).toBe(-1);
        expect(() => parseDuration("soon")).toThrow(/invalid duration/);
    });
});
