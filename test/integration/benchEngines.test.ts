import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { requireCpuLlamaServer } from "../helpers/llamaServerBuild.js";
import { tempDataDir } from "../helpers/server.js";

// Smoke check of `npm run bench` (bench/engines.mjs --quick): the three sides run on the tiny model and the
// table and JSON come out complete. Timings on a shared 2-core box mean nothing, so none are checked.

interface SideSummary {
    decodeTps: number;
    promptTps: number;
    promptTokens: number;
    ttftP50Ms: number;
    ttftP95Ms: number;
    aggregateTps: Record<string, number>;
    coldStartS: number;
    peakRssMB: number;
}

interface BenchJson {
    mode: string;
    settings: { threads: number; slots: number; contextPerStream: number };
    prompts: Array<{ tokens: number }>;
    results: Record<string, { name: string; summary: SideSummary & { samples: Array<{ peakRssPerProcess: Array<{ name: string }> }> } }>;
    ratios: Record<string, Record<string, number>>;
    targets: Record<string, Record<string, { met: boolean }>>;
    table: string;
}

describe("bench/engines.mjs --quick", () => {
    it("runs plain llama-server and our server on both engines, prints the ratio table and writes JSON", async () => {
        const { cacheDir } = await requireCpuLlamaServer();
        const out = tempDataDir("mentator-bench-");
        const { stdout } = await promisify(execFile)(process.execPath, ["bench/engines.mjs", "--quick", "--threads", "2"], {
            cwd: fileURLToPath(new URL("../..", import.meta.url)),
            env: { ...process.env, MENTATOR_BENCH_OUT: out, MENTATOR_ENGINE_CACHE: cacheDir },
            maxBuffer: 16 * 1024 * 1024
        });

        const jsonPath = join(out, "engines-quick-cpu.json");
        expect(existsSync(jsonPath)).toBe(true);
        const json = JSON.parse(readFileSync(jsonPath, "utf8")) as BenchJson;
        expect(json.mode).toBe("quick-cpu");
        expect(json.settings).toMatchObject({ threads: 2, slots: 2, contextPerStream: 512 });
        // The prompt-rate prompt is calibrated to the exact token count on plain llama-server.
        expect(json.prompts.map((prompt) => prompt.tokens)).toEqual([128]);

        expect(Object.keys(json.results).sort()).toEqual(["a", "b", "c"]);
        expect(json.results.a!.name).toBe("llama-server");
        for (const side of ["a", "b", "c"]) {
            const summary = json.results[side]!.summary;
            for (const value of [summary.decodeTps, summary.promptTps, summary.ttftP50Ms, summary.ttftP95Ms, summary.coldStartS, summary.peakRssMB]) {
                expect(Number.isFinite(value) && value > 0).toBe(true);
            }
            expect(Object.keys(summary.aggregateTps).sort()).toEqual(["1", "2"]);
            expect(Object.values(summary.aggregateTps).every((value) => value > 0)).toBe(true);
            // Every side saw the same prompt, tokenized the same way.
            expect(summary.promptTokens).toBe(128);
        }
        // Peak RSS of (b) counts the llama-server child as well as our own process.
        const processes = json.results.b!.summary.samples[0]!.peakRssPerProcess.map((entry) => entry.name);
        expect(processes).toContain("llama-server");
        expect(processes.length).toBeGreaterThanOrEqual(2);

        for (const side of ["b", "c"]) {
            expect(Object.keys(json.ratios[side]!)).toHaveLength(8); // 6 metrics + aggregate at 2 concurrency levels
            expect(Object.keys(json.targets[side]!).sort()).toEqual(
                ["aggregate tok/s, 2 streams", "cold start to ready, s", "decode tok/s, 1 stream, 16 tokens", "peak RSS, MB", "prompt tok/s, 128-token prompt", "TTFT p50, ms"].sort()
            );
        }

        // The table on stdout: a header naming the three sides and one row per metric.
        const lines = stdout.trim().split("\n");
        expect(lines[0]).toContain("(a) llama-server");
        expect(lines[0]).toContain("(b) ours, llama-server engine");
        expect(lines[0]).toContain("(c) ours, node-llama-cpp engine");
        expect(lines).toHaveLength(2 + 8);
        expect(stdout.trim()).toBe(json.table);
    }, 600_000);
});
