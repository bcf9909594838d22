// `npm run bench`: one workload against (a) plain llama-server, (b) our server on the llama-server engine,
// (c) our server on the node-llama-cpp engine; same model, threads, context per stream, slots and flash
// attention setting. The sides run one after another, never at the same time. Prints one table of ratios
// to (a) and writes bench/out/engines-<mode>.json. Definitions of every number: bench/RESULTS.md.
//
// usage: node bench/engines.mjs [--quick] [--gpu] [--threads N] [--rounds N] [--sides a,b,c]
//   --quick     tiny model, few tokens, concurrency 1/2 (the smoke check the tests run; timings meaningless)
//   --gpu       CUDA build, all layers on the GPU, concurrency 1/8/32 (32 slots)
//   --threads   CPU threads on every side (default: all CPUs)
//   --rounds    run a, b, c this many times in turn and pool the samples (default 1)
//   --sides     run only some sides (a is needed for ratios)
// env: MENTATOR_BENCH_OUT (output folder, default bench/out), MENTATOR_ENGINE_CACHE (llama-server builds,
//      default ~/.cache/mentator/engines; built there on first use, about 20 minutes on 2 cores)
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, cpus, homedir, loadavg, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { PeakRssSampler, processTree } from "./processTree.mjs";
import { decodeRate, streamCompletion } from "./streamCompletion.mjs";
import { median, percentile, wordPrompt } from "./workload.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "distjs", "index.js");

function parseArgs(argv) {
    const options = { quick: false, gpu: false, threads: availableParallelism(), rounds: 1, sides: ["a", "b", "c"] };
    for (let index = 0; index < argv.length; index++) {
        const arg = argv[index];
        const value = () => {
            const next = argv[++index];
            if (next === undefined) usage(`${arg} needs a value`);
            return next;
        };
        if (arg === "--quick") options.quick = true;
        else if (arg === "--gpu") options.gpu = true;
        else if (arg === "--threads") options.threads = positiveInt(arg, value());
        else if (arg === "--rounds") options.rounds = positiveInt(arg, value());
        else if (arg === "--sides") {
            options.sides = value().split(",");
            if (options.sides.some((side) => !["a", "b", "c"].includes(side))) usage("--sides: expected a comma list of a, b, c");
        } else usage(`unknown argument ${arg}`);
    }
    return options;
}

function positiveInt(name, text) {
    const number = Number(text);
    if (!Number.isInteger(number) || number < 1) usage(`${name}: expected a positive integer, got "${text}"`);
    return number;
}

function usage(message) {
    process.stderr.write(`bench/engines.mjs: ${message}\nusage: node bench/engines.mjs [--quick] [--gpu] [--threads N] [--rounds N] [--sides a,b,c]\n`);
    process.exit(2);
}

const options = parseArgs(process.argv.slice(2));
const mode = `${options.quick ? "quick" : "full"}-${options.gpu ? "gpu" : "cpu"}`;
const backend = options.gpu ? "cuda" : "cpu";

/** What every side runs. Token counts are completion tokens with EOS ignored. */
const WORKLOAD = options.quick
    ? {
          preset: "tiny",
          contextSize: 512,
          parallel: 2,
          decodeTokens: 16,
          decodeReps: 1,
          shortPromptWords: 16,
          promptTokens: 128,
          promptReps: 1,
          ttftReps: 3,
          ttftMaxTokens: 2,
          concurrency: [1, 2],
          aggregateTokens: 8,
          aggregateReps: 1,
          coldStartReps: 1
      }
    : {
          preset: "qwen05",
          contextSize: 1024,
          parallel: options.gpu ? 32 : 4,
          decodeTokens: 128,
          decodeReps: 3,
          shortPromptWords: 32,
          promptTokens: 512,
          // Prompt rates vary by ±5 % between single requests on the shared CPU box: six samples per round.
          promptReps: 6,
          ttftReps: options.gpu ? 40 : 20,
          ttftMaxTokens: 2,
          concurrency: options.gpu ? [1, 8, 32] : [1, 2, 4],
          aggregateTokens: 128,
          aggregateReps: 3,
          coldStartReps: 5
      };

const outDir = resolve(process.env.MENTATOR_BENCH_OUT ?? join(root, "bench", "out"));
const engineCache = resolve(process.env.MENTATOR_ENGINE_CACHE || join(homedir(), ".cache", "mentator", "engines"));
const modelId = WORKLOAD.preset;
const modelDir = join(outDir, "models");
const modelPath = join(modelDir, `${modelId}.gguf`);
const workDir = join(outDir, `engines-${mode}`);

const log = (message) => process.stderr.write(`[bench] ${message}\n`);
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** The environment for a side: the caller's, less variables that would override the settings compared here. */
function cleanEnv() {
    return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("MENTATOR_") && !key.startsWith("LLAMA_ARG_")));
}

async function runCli(args) {
    try {
        const { stdout } = await promisify(execFile)(process.execPath, [cli, ...args], {
            cwd: root,
            env: { ...process.env, MENTATOR_ENGINE_CACHE: engineCache },
            maxBuffer: 64 * 1024 * 1024
        });
        return stdout;
    } catch (error) {
        throw new Error(`mentator ${args.join(" ")} failed:\n${error.stderr ?? ""}${error.message}`);
    }
}

async function freePort() {
    const server = createServer();
    await new Promise((done) => server.listen(0, "127.0.0.1", done));
    const { port } = server.address();
    await new Promise((done) => server.close(done));
    return port;
}

/** Reads the whole model once so no side pays for cold disk reads. */
async function warmPageCache(file) {
    const { createReadStream } = await import("node:fs");
    for await (const _chunk of createReadStream(file, { highWaterMark: 8 * 1024 * 1024 }));
}

/** How each side is started; all get the same model, threads, slots, context per slot and flash attention. */
function sideSpecs(binary) {
    const serverArgs = (engine) => (dataDir, port) => {
        // A fresh data dir per side and round, kept over that round's starts (a restart, not a first run).
        mkdirSync(dataDir, { recursive: true });
        const config = {
            engine,
            engineCache,
            modelDir,
            defaultModel: modelId,
            gpu: backend,
            contextSize: WORKLOAD.contextSize,
            parallel: WORKLOAD.parallel,
            threads: options.threads,
            models: options.gpu ? { [modelId]: { gpuLayers: "max" } } : {}
        };
        writeFileSync(join(dataDir, "mentator-llm-service.conf.jsonc"), JSON.stringify(config, null, 4));
        return { command: process.execPath, args: [cli, "serve", "--data-dir", dataDir, "--port", String(port)] };
    };
    return {
        a: {
            key: "a",
            name: "llama-server",
            label: "(a) llama-server",
            healthPath: "/health",
            command: (_dataDir, port) => ({
                command: binary,
                args: [
                    "-m", modelPath,
                    "-a", modelId,
                    "-c", String(WORKLOAD.contextSize * WORKLOAD.parallel),
                    "-np", String(WORKLOAD.parallel),
                    "-fa", "auto",
                    "-t", String(options.threads),
                    "--no-webui",
                    "--host", "127.0.0.1",
                    "--port", String(port),
                    ...(options.gpu ? ["-ngl", "all"] : [])
                ]
            })
        },
        b: { key: "b", name: "mentator/llama-server", label: "(b) ours, llama-server engine", healthPath: "/health/ready", command: serverArgs("llama-server") },
        c: { key: "c", name: "mentator/node-llama-cpp", label: "(c) ours, node-llama-cpp engine", healthPath: "/health/ready", command: serverArgs("node-llama-cpp") }
    };
}

/** Started sides not stopped yet: stopped on SIGINT/SIGTERM so an interrupted bench leaves no servers behind. */
const liveChildren = new Set();
for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => {
        for (const child of liveChildren) {
            for (const pid of processTree(child.pid)) {
                try {
                    process.kill(pid, "SIGTERM");
                } catch {
                    // already gone
                }
            }
        }
        process.exit(signal === "SIGINT" ? 130 : 143);
    });
}

/** A started side: its process, URL, time from spawn to ready, and (if asked) a peak-RSS sampler. */
async function startSide(side, sampleRss) {
    const port = await freePort();
    const { command, args } = side.command(join(workDir, side.key), port);
    const url = `http://127.0.0.1:${port}`;
    const spawnedAt = performance.now();
    const child = spawn(command, args, { cwd: root, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
    liveChildren.add(child);
    child.on("exit", () => liveChildren.delete(child));
    const sampler = sampleRss ? new PeakRssSampler(child.pid) : undefined;
    let logs = "";
    const keep = (chunk) => {
        logs = (logs + chunk).slice(-20_000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    let exited;
    child.on("exit", (code, signal) => {
        exited = signal ?? code;
    });
    const deadline = spawnedAt + 10 * 60_000;
    for (;;) {
        if (exited !== undefined) throw new Error(`${side.label} exited (${exited}) before it was ready:\n${logs}`);
        if (performance.now() > deadline) {
            child.kill("SIGKILL");
            throw new Error(`${side.label} not ready after 10 minutes:\n${logs}`);
        }
        const ok = await fetch(`${url}${side.healthPath}`).then((response) => response.status === 200, () => false);
        if (ok) break;
        await sleep(10);
    }
    const readyMs = performance.now() - spawnedAt;
    return { side, child, url, readyMs, sampler, logs: () => logs, exited: () => exited };
}

/** SIGTERM, then waits until the process and all its descendants are gone (SIGKILL after 20 s). */
async function stopSide(running) {
    const pids = processTree(running.child.pid);
    running.sampler?.stop();
    if (running.exited() === undefined) running.child.kill("SIGTERM");
    const alive = () => pids.filter((pid) => {
        try {
            process.kill(pid, 0);
            return true;
        } catch {
            return false;
        }
    });
    const deadline = performance.now() + 20_000;
    while (alive().length > 0) {
        if (performance.now() > deadline) {
            for (const pid of alive()) process.kill(pid, "SIGKILL");
            await sleep(200);
            break;
        }
        await sleep(20);
    }
}

/** The same request body on every side: greedy, EOS ignored. */
function completionBody(prompt, maxTokens) {
    return { model: modelId, prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true };
}

/**
 * Prompts of exactly `WORKLOAD.promptTokens` tokens as llama-server tokenizes them (BOS included), found
 * with plain llama-server's /tokenize before any side runs. One per rep, each different from the first
 * word so no side can reuse a cached prefix.
 */
async function calibratePrompts(specs) {
    const running = await startSide(specs.a, false);
    try {
        const count = async (text) => {
            const response = await fetch(`${running.url}/tokenize`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ content: text, add_special: true }) });
            if (response.status !== 200) throw new Error(`llama-server /tokenize: HTTP ${response.status}: ${await response.text()}`);
            return (await response.json()).tokens.length;
        };
        const prompts = [];
        for (let rep = 0; rep < WORKLOAD.promptReps; rep++) {
            const seed = 2000 + rep;
            let low = 1;
            let high = WORKLOAD.promptTokens;
            while (low < high) {
                const mid = Math.ceil((low + high) / 2);
                if ((await count(wordPrompt(seed, mid))) <= WORKLOAD.promptTokens) low = mid;
                else high = mid - 1;
            }
            const text = wordPrompt(seed, low);
            prompts.push({ text, tokens: await count(text) });
        }
        return prompts;
    } finally {
        await stopSide(running);
    }
}

/** One side, one round: cold starts, then the workload on the last start, with peak RSS sampled throughout. */
async function runSide(side, prompts) {
    rmSync(join(workDir, side.key), { recursive: true, force: true });
    const coldStartMs = [];
    for (let rep = 1; rep < WORKLOAD.coldStartReps; rep++) {
        const running = await startSide(side, false);
        coldStartMs.push(running.readyMs);
        await stopSide(running);
    }
    const running = await startSide(side, true);
    coldStartMs.push(running.readyMs);
    const retried = [];
    // A keep-alive connection closed by the server just as the client reuses it ("other side closed") fails a
    // request that was never served; that sample is measured again (at most twice) and the retry is recorded.
    const measured = async (what, run) => {
        for (let attempt = 0; ; attempt++) {
            try {
                return await run();
            } catch (error) {
                const socketError = error instanceof TypeError && error.message === "fetch failed" && error.cause?.code === "UND_ERR_SOCKET";
                if (!socketError || attempt >= 2) throw error;
                retried.push({ what, error: String(error.cause?.message ?? error.message) });
                log(`${side.label}: ${what}: ${error.cause?.message ?? error.message}; measuring it again`);
            }
        }
    };
    const request = (prompt, maxTokens) => measured("request", () => streamCompletion(running.url, completionBody(prompt, maxTokens)));
    try {
        await request(wordPrompt(1, 8), 4); // warm-up
        const decode = [];
        for (let rep = 0; rep < WORKLOAD.decodeReps; rep++) decode.push(await request(wordPrompt(100 + rep, WORKLOAD.shortPromptWords), WORKLOAD.decodeTokens));
        for (const result of decode) {
            if (result.completionTokens !== WORKLOAD.decodeTokens) throw new Error(`${side.label}: asked for ${WORKLOAD.decodeTokens} tokens with EOS ignored, got ${result.completionTokens}`);
        }
        const prompt = [];
        for (const { text } of prompts) prompt.push(await request(text, 1));
        const ttft = [];
        for (let rep = 0; rep < WORKLOAD.ttftReps; rep++) ttft.push(await request(wordPrompt(300 + rep, WORKLOAD.shortPromptWords), WORKLOAD.ttftMaxTokens));
        const aggregate = {};
        for (const streams of WORKLOAD.concurrency) {
            aggregate[streams] = [];
            for (let rep = 0; rep < WORKLOAD.aggregateReps; rep++) {
                const rate = await measured(`aggregate at ${streams}`, async () => {
                    const started = performance.now();
                    const results = await Promise.all(
                        Array.from({ length: streams }, (_, index) =>
                            streamCompletion(running.url, completionBody(wordPrompt(10_000 + streams * 100 + rep * streams + index, WORKLOAD.shortPromptWords), WORKLOAD.aggregateTokens))
                        )
                    );
                    const seconds = (performance.now() - started) / 1000;
                    return results.reduce((sum, result) => sum + result.completionTokens, 0) / seconds;
                });
                aggregate[streams].push(rate);
            }
        }
        running.sampler.sample();
        return {
            coldStartMs,
            decodeTps: decode.map(decodeRate),
            promptTps: prompt.map((result) => result.promptTokens / (result.ttftMs / 1000)),
            promptTokens: prompt.map((result) => result.promptTokens),
            promptTtftMs: prompt.map((result) => result.ttftMs),
            serverPromptTps: prompt.map((result) => result.timings?.prompt_per_second).filter((value) => typeof value === "number"),
            serverDecodeTps: decode.map((result) => result.timings?.predicted_per_second).filter((value) => typeof value === "number"),
            ttftMs: ttft.map((result) => result.ttftMs),
            aggregateTps: aggregate,
            peakRssBytes: running.sampler.peakBytes(),
            peakRssMaxSumBytes: running.sampler.maxSumRss,
            peakRssPerProcess: running.sampler.perProcess(),
            retried
        };
    } catch (error) {
        throw new Error(`${error.message}\n--- ${side.label} log tail ---\n${running.logs().slice(-4000)}`, { cause: error });
    } finally {
        await stopSide(running);
    }
}

/** Pools the raw samples of one side over rounds and reduces them to the reported numbers. */
function summarise(rounds) {
    const all = (key) => rounds.flatMap((round) => round[key]);
    const ttft = all("ttftMs");
    const aggregateTps = {};
    for (const streams of WORKLOAD.concurrency) aggregateTps[streams] = median(rounds.flatMap((round) => round.aggregateTps[streams]));
    const serverPrompt = all("serverPromptTps");
    const serverDecode = all("serverDecodeTps");
    return {
        decodeTps: median(all("decodeTps")),
        promptTps: median(all("promptTps")),
        promptTokens: median(all("promptTokens")),
        ttftP50Ms: percentile(ttft, 50),
        ttftP95Ms: percentile(ttft, 95),
        aggregateTps,
        coldStartS: median(all("coldStartMs")) / 1000,
        peakRssMB: median(rounds.map((round) => round.peakRssBytes)) / 1e6,
        serverReported: serverPrompt.length > 0 ? { promptTps: median(serverPrompt), decodeTps: median(serverDecode) } : undefined,
        samples: rounds
    };
}

/** Rows of the table: [label, key, format, how the target compares to (a)]. */
function metricRows() {
    const highest = WORKLOAD.concurrency[WORKLOAD.concurrency.length - 1];
    return [
        { label: `decode tok/s, 1 stream, ${WORKLOAD.decodeTokens} tokens`, get: (s) => s.decodeTps, digits: 1, target: { kind: "ratio", min: 0.97 } },
        { label: `prompt tok/s, ${WORKLOAD.promptTokens}-token prompt`, get: (s) => s.promptTps, digits: 1, target: { kind: "ratio", min: 0.97 } },
        { label: "TTFT p50, ms", get: (s) => s.ttftP50Ms, digits: 1, target: { kind: "delta", max: 5, unit: "ms" } },
        { label: "TTFT p95, ms", get: (s) => s.ttftP95Ms, digits: 1 },
        ...WORKLOAD.concurrency.map((streams) => ({
            label: `aggregate tok/s, ${streams} stream${streams > 1 ? "s" : ""}`,
            get: (s) => s.aggregateTps[streams],
            digits: 1,
            target: streams === highest ? { kind: "ratio", min: 1.0 } : undefined
        })),
        { label: "cold start to ready, s", get: (s) => s.coldStartS, digits: 2, target: { kind: "ratio", max: 1.2 } },
        { label: "peak RSS, MB", get: (s) => s.peakRssMB, digits: 0, target: { kind: "delta", max: 150, unit: "MB" } }
    ];
}

function targetText(target) {
    if (target === undefined) return "";
    if (target.kind === "delta") return `≤ (a) + ${target.max} ${target.unit}`;
    return target.min !== undefined ? `≥ ${target.min.toFixed(2)}×` : `≤ ${target.max.toFixed(2)}×`;
}

function checkTarget(target, value, reference) {
    if (target === undefined || value === undefined || reference === undefined) return undefined;
    if (target.kind === "delta") return { delta: value - reference, met: value - reference <= target.max };
    const ratio = value / reference;
    return { ratio, met: target.min !== undefined ? ratio >= target.min : ratio <= target.max };
}

function buildReport(results) {
    const rows = metricRows();
    const reference = results.a;
    const others = ["b", "c"].filter((key) => results[key] !== undefined);
    const header = ["metric", "(a) llama-server", ...others.flatMap((key) => [results[key].label, `${key}/a`]), "target", ...others.map((key) => `${key} meets`)];
    const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
    const ratios = {};
    const targets = {};
    for (const key of others) {
        ratios[key] = {};
        targets[key] = {};
    }
    for (const row of rows) {
        const base = reference ? row.get(reference.summary) : undefined;
        const cells = [row.label, base !== undefined ? base.toFixed(row.digits) : "-"];
        const meets = [];
        for (const key of others) {
            const value = row.get(results[key].summary);
            const ratio = base ? value / base : undefined;
            ratios[key][row.label] = ratio ?? null;
            cells.push(value.toFixed(row.digits), ratio !== undefined ? ratio.toFixed(3) : "-");
            const check = checkTarget(row.target, value, base);
            if (check !== undefined) {
                targets[key][row.label] = { target: targetText(row.target), ...check };
                meets.push(check.delta !== undefined ? `${check.met ? "yes" : "no"} (${check.delta >= 0 ? "+" : ""}${check.delta.toFixed(1)})` : check.met ? "yes" : "no");
            } else meets.push("");
        }
        cells.push(targetText(row.target), ...meets);
        lines.push(`| ${cells.join(" | ")} |`);
    }
    return { table: lines.join("\n"), ratios, targets };
}

// ---- main ----

if (!existsSync(cli)) usage(`${cli} is missing; run "npm run buildjs" first (npm run bench does)`);
mkdirSync(workDir, { recursive: true });
mkdirSync(modelDir, { recursive: true });

log(`llama-server for ${backend}: ${engineCache} (builds it when missing; about 20 minutes on 2 cores)`);
const engine = JSON.parse(await runCli(["engine", "build", "--gpu", backend, "--json"]));
if (!existsSync(modelPath)) {
    log(`writing synthetic ${WORKLOAD.preset} model to ${modelPath}`);
    await runCli(["dev", "synth-model", "--preset", WORKLOAD.preset, "--out", modelPath]);
}
await warmPageCache(modelPath);

const specs = sideSpecs(engine.binary);
const loadBefore = loadavg();
const startedAt = new Date();
log(`calibrating ${WORKLOAD.promptTokens}-token prompts with plain llama-server`);
const prompts = await calibratePrompts(specs);
const rounds = { a: [], b: [], c: [] };
for (let round = 1; round <= options.rounds; round++) {
    for (const key of options.sides) {
        log(`round ${round}/${options.rounds}: ${specs[key].label} (load average ${loadavg().map((value) => value.toFixed(2)).join(" ")})`);
        rounds[key].push(await runSide(specs[key], prompts));
    }
}
const results = {};
for (const key of options.sides) results[key] = { name: specs[key].name, label: specs[key].label, summary: summarise(rounds[key]) };
const report = buildReport(results);
process.stdout.write(`${report.table}\n`);

const json = {
    date: startedAt.toISOString(),
    finished: new Date().toISOString(),
    mode,
    machine: { cpus: availableParallelism(), cpuModel: cpus()[0]?.model, ramBytes: totalmem(), loadAverageBefore: loadBefore, loadAverageAfter: loadavg() },
    settings: {
        model: modelId,
        modelPath,
        backend,
        threads: options.threads,
        contextPerStream: WORKLOAD.contextSize,
        slots: WORKLOAD.parallel,
        flashAttention: "auto",
        // Read by Node when a side starts; it sizes the thread pool node-llama-cpp's native calls run on (c).
        uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? "unset (Node's default, 4)",
        rounds: options.rounds,
        llamaServer: engine.binary,
        llamaCppRelease: engine.release
    },
    workload: WORKLOAD,
    definitions: {
        decodeTps: "(completion tokens - 1) / (time of last text chunk - time of first), one stream, EOS ignored; median",
        promptTps: `usage.prompt_tokens / time to first text chunk, max_tokens 1, client-measured; median of ${WORKLOAD.promptReps} per round`,
        ttft: "request sent to first non-empty text chunk, short prompt, one stream; p50/p95 over all samples",
        aggregateTps: `sum of completion tokens / wall time from sending all requests to the last stream's end; median of ${WORKLOAD.aggregateReps} per round`,
        coldStart: `process spawn to the first 200 from /health (a) or /health/ready (b, c), polled every 10 ms; median of ${WORKLOAD.coldStartReps} per round`,
        peakRss: "sum of VmHWM over the server's process tree (llama-server children included), MB = 10^6 bytes"
    },
    prompts: prompts.map((prompt) => ({ tokens: prompt.tokens, words: prompt.text.split(" ").length })),
    results,
    ratios: report.ratios,
    targets: report.targets,
    table: report.table
};
const jsonPath = join(outDir, `engines-${mode}.json`);
writeFileSync(jsonPath, JSON.stringify(json, null, 2));
log(`wrote ${jsonPath}`);
