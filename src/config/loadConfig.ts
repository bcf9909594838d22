import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { z } from "zod";
import { ConfigError } from "./ConfigError.js";
import { defaultConfigText } from "./defaultConfigText.js";
import { readEnvOverrides, type EnvOverride } from "./envOverrides.js";
import { parseDuration } from "./parseDuration.js";
import { parseConfigText, type ParsedConfigText } from "./parseConfigText.js";
import {
    CONFIG_FILE_NAME,
    configSchema,
    DB_FILE_NAME,
    DEFAULT_PORT,
    DEFAULT_ROOT_DIR,
    LOCK_FILE_NAME,
    MODELS_DIR_NAME,
    type FileConfig
} from "./schema.js";

/** Values given on the command line; they win over everything else. */
export interface ConfigCliOptions {
    /** Config file path. Default: `<dataDir>/mentator-llm-service.conf.jsonc`. */
    config?: string;
    /** Data directory. Default: `$MENTATOR_HOME`, else `./data`. */
    dataDir?: string;
    /** Docker mode: the config file inside the data volume; host, port, dbFile and modelDir are fixed. */
    confDocker?: string;
    host?: string;
    port?: number;
    modelsDir?: string;
    gpu?: string;
    apiKeys?: string[];
    offline?: boolean;
    logLevel?: string;
}

export interface LoadConfigOptions {
    cli?: ConfigCliOptions;
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    /** Write the commented default config file when it does not exist (serve does; one-shot commands don't). */
    createIfMissing?: boolean;
}

export interface ServiceConfig extends FileConfig {
    dataDir: string;
    configFile: string;
    dockerMode: boolean;
    /** Absolute path of the SQLite database. */
    dbPath: string;
    /** Absolute path of the models directory. */
    modelsDir: string;
    /** Absolute path of the model lock file (`lockFile`, else `<modelsDir>/mentator.lock.json`); it may not exist. */
    lockPath: string;
    /** True when `lockFile`/LOCK_PATH named the lock explicitly (then a missing file is an error). */
    lockPathExplicit: boolean;
    /** Image root holding `default-models/` (`$MENTATOR_ROOT`, default /opt/mentator-llm-service). */
    rootDir: string;
    keepAliveMs: number;
    /** True when this load wrote the default config file. */
    createdConfigFile: boolean;
}

interface ConfigLocation {
    dataDir: string;
    configFile: string;
    dockerMode: boolean;
}

export function resolveConfigLocation(cli: ConfigCliOptions, env: NodeJS.ProcessEnv, cwd: string): ConfigLocation {
    if (cli.confDocker !== undefined) {
        const configFile = resolve(cwd, cli.confDocker);
        return { dataDir: dirname(configFile), configFile, dockerMode: true };
    }
    const dataDir = resolve(cwd, cli.dataDir ?? nonEmpty(env.MENTATOR_HOME) ?? "data");
    const configFile = resolve(cwd, cli.config ?? nonEmpty(env.MENTATOR_CONFIG) ?? join(dataDir, CONFIG_FILE_NAME));
    return { dataDir, configFile, dockerMode: false };
}

function nonEmpty(value: string | undefined): string | undefined {
    return value === undefined || value === "" ? undefined : value;
}

function writeDefaultConfig(file: string, dockerMode: boolean): void {
    mkdirSync(dirname(file), { recursive: true });
    const temporary = `${file}.tmp-${process.pid}`;
    writeFileSync(temporary, defaultConfigText({ dockerMode }), { flag: "wx" });
    renameSync(temporary, file);
}

function setAt(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
    let node = target;
    for (const key of path.slice(0, -1)) {
        const child = node[key];
        if (child === null || typeof child !== "object" || Array.isArray(child)) node[key] = {};
        node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
}

function cliOverrides(cli: ConfigCliOptions, cwd: string): Array<{ path: string[]; value: unknown }> {
    const list: Array<{ path: string[]; value: unknown }> = [];
    if (cli.host !== undefined) list.push({ path: ["host"], value: cli.host });
    if (cli.port !== undefined) list.push({ path: ["port"], value: cli.port });
    if (cli.modelsDir !== undefined) list.push({ path: ["modelDir"], value: resolve(cwd, cli.modelsDir) });
    if (cli.gpu !== undefined) list.push({ path: ["gpu"], value: cli.gpu });
    if (cli.apiKeys !== undefined && cli.apiKeys.length > 0) list.push({ path: ["apiKeys"], value: cli.apiKeys });
    if (cli.offline !== undefined) list.push({ path: ["offline"], value: cli.offline });
    if (cli.logLevel !== undefined) list.push({ path: ["logLevel"], value: cli.logLevel });
    return list;
}

function describeIssue(issue: z.core.$ZodIssue): { path: string[]; message: string }[] {
    const path = issue.path.map(String);
    if (issue.code === "unrecognized_keys") {
        return issue.keys.map((key) => ({ path: [...path, key], message: "unknown key" }));
    }
    return [{ path, message: issue.message.replace(/^Invalid input: /, "") }];
}

/**
 * Reads the config file (JSONC), applies environment and command-line overrides and validates the result.
 * Throws ConfigError naming file:line:column, the environment variable or the flag behind each problem.
 */
export function loadConfig(options: LoadConfigOptions = {}): ServiceConfig {
    const cli = options.cli ?? {};
    const env = options.env ?? process.env;
    const cwd = options.cwd ?? process.cwd();
    const location = resolveConfigLocation(cli, env, cwd);

    let createdConfigFile = false;
    if (!existsSync(location.configFile)) {
        if (options.createIfMissing === true || location.dockerMode) {
            writeDefaultConfig(location.configFile, location.dockerMode);
            createdConfigFile = true;
        } else if (cli.config !== undefined || nonEmpty(env.MENTATOR_CONFIG) !== undefined) {
            throw new ConfigError([`${location.configFile}: config file not found`]);
        }
    }

    let parsed: ParsedConfigText = { value: {}, locate: () => location.configFile };
    if (existsSync(location.configFile)) {
        let text: string;
        try {
            text = readFileSync(location.configFile, "utf8");
        } catch (error) {
            throw new ConfigError([`${location.configFile}: cannot read: ${(error as Error).message}`]);
        }
        parsed = parseConfigText(text, location.configFile);
    }

    // Relative paths in the file are relative to the file; relative paths from env or flags to the cwd.
    const raw: Record<string, unknown> = structuredClone(parsed.value);
    const configDir = dirname(location.configFile);
    for (const key of ["dbFile", "modelDir", "lockFile"] as const) {
        const value = raw[key];
        if (typeof value === "string" && value !== "" && !isAbsolute(value)) raw[key] = resolve(configDir, value);
    }

    const sources = new Map<string, string>();
    const envOverrides: EnvOverride[] = readEnvOverrides(env);
    for (const override of envOverrides) {
        let value = override.value;
        const isPath = override.path[0] === "dbFile" || override.path[0] === "modelDir" || override.path[0] === "lockFile";
        if (isPath && typeof value === "string" && value !== "") {
            value = resolve(cwd, value);
        }
        setAt(raw, override.path, value);
        sources.set(override.path.join("."), `environment variable ${override.variable}`);
    }
    for (const override of cliOverrides(cli, cwd)) {
        setAt(raw, override.path, override.value);
        sources.set(override.path.join("."), `command-line option for ${override.path.join(".")}`);
    }

    if (location.dockerMode) {
        raw.host = "0.0.0.0";
        raw.port = DEFAULT_PORT;
        raw.dbFile = join(location.dataDir, DB_FILE_NAME);
        raw.modelDir = join(location.dataDir, MODELS_DIR_NAME);
    }

    const result = configSchema.safeParse(raw);
    if (!result.success) {
        const problems = result.error.issues.flatMap(describeIssue).map(({ path, message }) => {
            const dotted = path.join(".");
            const source = [...sources.entries()].find(([key]) => dotted === key || dotted.startsWith(`${key}.`));
            const where = source !== undefined ? source[1] : parsed.locate(path);
            return `${where}: ${dotted === "" ? "(root)" : dotted}: ${message}`;
        });
        throw new ConfigError(problems);
    }

    const config = result.data;
    let keepAliveMs: number;
    try {
        keepAliveMs = parseDuration(config.keepAlive);
    } catch (error) {
        throw new ConfigError([`${parsed.locate(["keepAlive"])}: keepAlive: ${(error as Error).message}`]);
    }
    const modelsDir = resolve(location.dataDir, config.modelDir);
    return {
        ...config,
        dataDir: location.dataDir,
        configFile: location.configFile,
        dockerMode: location.dockerMode,
        dbPath: resolve(location.dataDir, config.dbFile),
        modelsDir,
        lockPath: config.lockFile !== "" ? resolve(location.dataDir, config.lockFile) : join(modelsDir, LOCK_FILE_NAME),
        lockPathExplicit: config.lockFile !== "",
        rootDir: resolve(cwd, nonEmpty(env.MENTATOR_ROOT) ?? DEFAULT_ROOT_DIR),
        keepAliveMs,
        createdConfigFile
    };
}
