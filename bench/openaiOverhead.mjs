// `npm run bench:overhead`: our HTTP API (/v1/completions, streamed) versus node-llama-cpp called directly, same run,
// same synthetic model, context, parallel sequences and sampling. Prints a table of ratios, writes JSON.
// usage: node bench/openaiOverhead.mjs [--quick]   (quick: tiny model, few tokens; a smoke check for tests)
// BENCH_THREADS (default 1) sets llama.cpp's threads on both sides: on this project's 2-vCPU machines two
// busy-waiting threads decode 50-100x slower than one (CPU steal), see bench/NOTES.md.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeSyntheticModel } from "../distjs/models/synth/writeSyntheticModel.js";
import { median, promptText, summarise, WORKLOAD } from "./workload.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const quick = process.argv.includes("--quick");
const mode = quick ? "quick" : "full";
const work = WORKLOAD[mode];
const preset = quick ? "tiny" : "qwen05";
const outDir = process.env.MENTATOR_BENCH_OUT ?? join(root, "bench", "out");
const dataDir = join(outDir, `data-${preset}`);
const modelPath = join(dataDir, "models", `${preset}.gguf`);

function run(args, onLine) {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, MENTATOR_LOG_LEVEL: "warn" }, stdio: ["ignore", "pipe", "pipe"] });
        let output = "";
        const feed = (chunk) => {
            output += chunk;
            for (const line of chunk.toString().split("\n")) onLine?.(line, child);
        };
        child.stdout.on("data", feed);
        child.stderr.on("data", feed);
        child.on("exit", (code) => (code === 0 || code === null ? resolve({ output, child }) : reject(new Error(`${args.join(" ")} exited ${code}\n${output}`))));
    });
}

async function streamCompletion(url, seed, words, maxTokens) {
    const started = performance.now();
    const response = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
            model: preset,
            prompt: promptText(seed, words),
            max_tokens: maxTokens,
            temperature: 0,
            ignore_eos: true,
            stream: true,
            stream_options: { include_usage: true }
        })
    });
    if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
    const times = [];
    let tokens = 0;
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const bytes of response.body) {
        buffer += decoder.decode(bytes, { stream: true });
        const events = buffer.split("\n\n");
        buffer = events.pop();
        for (const event of events) {
            const data = event.slice(6);
            if (data === "[DONE]") continue;
            const chunk = JSON.parse(data);
            if (chunk.usage) tokens = chunk.usage.completion_tokens;
            else if (chunk.choices[0]?.text) times.push(performance.now());
        }
    }
    return summarise(started, times, tokens);
}

async function benchServer() {
    const startedAt = performance.now();
    let readyMs;
    let url;
    const server = spawn(
        process.execPath,
        [join(root, "distjs", "index.js"), "serve", "--data-dir", dataDir, "--port", "0", "--gpu", "cpu"],
        { cwd: root, env: { ...process.env, MENTATOR_CONTEXT_SIZE: String(work.contextSize), MENTATOR_PARALLEL: String(work.parallel), MENTATOR_THREADS: process.env.BENCH_THREADS ?? "1" }, stdio: ["ignore", "ignore", "pipe"] }
    );
    let logs = "";
    await new Promise((resolve, reject) => {
        server.stderr.on("data", (chunk) => {
            logs += chunk;
            const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(logs);
            if (match && !url) {
                url = match[1];
                resolve();
            }
        });
        server.on("exit", (code) => reject(new Error(`server exited ${code}\n${logs}`)));
    });
    for (;;) {
        const ready = await fetch(`${url}/health/ready`).then((response) => response.status === 200, () => false);
        if (ready) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
    readyMs = performance.now() - startedAt;
    await streamCompletion(url, 1, 8, 4); // warm-up
    const single = [];
    for (let rep = 0; rep < work.reps; rep++) single.push(await streamCompletion(url, 100 + rep, work.promptWords, work.decodeTokens));
    const aggregateTps = {};
    for (const streams of work.concurrency) {
        const rounds = [];
        for (let rep = 0; rep < work.reps; rep++) {
            const started = performance.now();
            const results = await Promise.all(Array.from({ length: streams }, (_, index) => streamCompletion(url, 200 + rep * 10 + index, 16, work.concurrentTokens)));
            rounds.push(results.reduce((sum, result) => sum + result.tokens, 0) / ((performance.now() - started) / 1000));
        }
        aggregateTps[streams] = median(rounds);
    }
    server.kill("SIGTERM");
    await new Promise((resolve) => server.on("exit", resolve));
    return { decodeTps: median(single.map((run) => run.decodeTps)), ttftMs: median(single.map((run) => run.ttftMs)), aggregateTps, readyMs };
}

mkdirSync(dirname(modelPath), { recursive: true });
if (!existsSync(modelPath)) {
    process.stderr.write(`writing synthetic ${preset} model to ${modelPath}\n`);
    await writeSyntheticModel({ out: modelPath, preset });
}

const direct = JSON.parse(/RESULT (.*)/.exec((await run([join(root, "bench", "directNodeLlamaCpp.mjs"), modelPath, mode])).output)[1]);
const ours = await benchServer();

const rows = [
    ["decode tok/s, 1 stream", direct.decodeTps, ours.decodeTps, ours.decodeTps / direct.decodeTps],
    ["TTFT ms, 1 stream (median)", direct.ttftMs, ours.ttftMs, ours.ttftMs / direct.ttftMs],
    ...work.concurrency.map((streams) => [
        `aggregate tok/s, ${streams} streams`,
        direct.aggregateTps[streams],
        ours.aggregateTps[streams],
        ours.aggregateTps[streams] / direct.aggregateTps[streams]
    ])
];
const table = [
    `| ${preset} (${mode}) | node-llama-cpp direct | mentator HTTP | ratio |`,
    "|---|---|---|---|",
    ...rows.map(([name, a, b, ratio]) => `| ${name} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${ratio.toFixed(3)} |`)
].join("\n");
process.stdout.write(`${table}\n`);
const result = { date: new Date().toISOString(), mode, preset, workload: work, direct, ours, ratios: Object.fromEntries(rows.map(([name, , , ratio]) => [name, ratio])) };
writeFileSync(join(outDir, `openai-overhead-${mode}.json`), JSON.stringify(result, null, 2));
