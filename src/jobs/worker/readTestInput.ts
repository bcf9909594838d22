import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../../config/ConfigError.js";
import type { WorkerJob } from "./JobHandler.js";

/** RunPod's local test file, looked up in the current directory. */
export const TEST_INPUT_FILE = "test_input.json";

/** Where the test job came from, for messages. */
export interface TestInput {
    job: WorkerJob;
    source: string;
}

/** `{"input": {...}, "id"?: "..."}` as RunPod's local test mode takes it; the id defaults to `local_test`. */
export function parseTestInput(text: string, source: string): TestInput {
    let value: unknown;
    try {
        value = JSON.parse(text) as unknown;
    } catch (error) {
        throw new ConfigError([`${source}: not valid JSON (${(error as Error).message}); expected {"input": {...}}`]);
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new ConfigError([`${source}: expected an object {"input": {...}}`]);
    const record = value as Record<string, unknown>;
    const input = record.input;
    if (input === undefined || input === null) throw new ConfigError([`${source}: the job has no "input"; expected {"input": {...}}`]);
    if (typeof input !== "object" || Array.isArray(input)) throw new ConfigError([`${source}: "input" must be an object`]);
    const id = record.id === undefined ? "local_test" : record.id;
    if (typeof id !== "string" || id === "") throw new ConfigError([`${source}: "id" must be a non-empty string`]);
    return { job: { id, input: input as Record<string, unknown> }, source };
}

/** `--test-input JSON` if given, else `./test_input.json` if it exists, else undefined. */
export function findTestInput(flag: string | undefined, cwd: string): TestInput | undefined {
    if (flag !== undefined) return parseTestInput(flag, "--test-input");
    const file = join(cwd, TEST_INPUT_FILE);
    if (!existsSync(file)) return undefined;
    let text: string;
    try {
        text = readFileSync(file, "utf8");
    } catch (error) {
        throw new ConfigError([`${file}: cannot read: ${(error as Error).message}`]);
    }
    return parseTestInput(text, file);
}
