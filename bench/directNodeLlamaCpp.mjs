// Peer side: node-llama-cpp called directly (no HTTP), same model, context and sampling as our server.
// usage: node bench/directNodeLlamaCpp.mjs MODEL MODE   -> prints "RESULT <json>"
import { getLlama, LlamaCompletion, TokenBias } from "node-llama-cpp";
import { median, promptText, summarise, WORKLOAD } from "./workload.mjs";

const [modelPath, mode] = process.argv.slice(2);
const work = WORKLOAD[mode];
const llama = await getLlama({ gpu: false, build: "never", progressLogs: false, logLevel: "error" });
const model = await llama.loadModel({ modelPath });
const threads = Number(process.env.BENCH_THREADS ?? "1");
const context = await model.createContext({ contextSize: work.contextSize, sequences: work.parallel, flashAttention: "auto", threads });

// Same EOS suppression as our engine's ignore_eos (TokenBias.set skips end-of-generation tokens).
const bias = new TokenBias(model.tokenizer);
for (const token of [model.tokens.eos, model.tokens.eot]) if (token != null) bias._biases.set(token, -Infinity);

async function generate(seed, words, maxTokens) {
    const sequence = context.getSequence();
    const completion = new LlamaCompletion({ contextSequence: sequence });
    const times = [];
    let tokens = 0;
    const started = performance.now();
    await completion.generateCompletionWithMeta(promptText(seed, words), {
        maxTokens,
        temperature: 0,
        tokenBias: bias,
        repeatPenalty: false,
        onToken(chunk) {
            tokens += chunk.length;
            times.push(performance.now());
        }
    });
    completion.dispose({ disposeSequence: true });
    return summarise(started, times, tokens);
}

await generate(1, 8, 4); // warm-up
const single = [];
for (let rep = 0; rep < work.reps; rep++) single.push(await generate(100 + rep, work.promptWords, work.decodeTokens));
const concurrency = {};
for (const streams of work.concurrency) {
    const rounds = [];
    for (let rep = 0; rep < work.reps; rep++) {
        const started = performance.now();
        const results = await Promise.all(Array.from({ length: streams }, (_, index) => generate(200 + rep * 10 + index, 16, work.concurrentTokens)));
        rounds.push(results.reduce((sum, result) => sum + result.tokens, 0) / ((performance.now() - started) / 1000));
    }
    concurrency[streams] = median(rounds);
}
console.log(
    "RESULT " +
        JSON.stringify({
            decodeTps: median(single.map((run) => run.decodeTps)),
            ttftMs: median(single.map((run) => run.ttftMs)),
            aggregateTps: concurrency
        })
);
await context.dispose();
await model.dispose();
await llama.dispose();
