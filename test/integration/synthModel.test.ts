import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Command } from "commander";
import {
    getLlama, GeneralChatWrapper, type Llama, LlamaChatSession, LlamaCompletion, LlamaLogLevel, type LlamaModel
} from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { registerDevCommands } from "../../src/cli/commands/devSynthModel.js";
import { type CorruptModelKind, makeCorruptModel, makeTinyModel } from "../helpers/models.js";

// One thread: on small shared machines llama.cpp's spinning worker threads make a 2-layer model
// take tens of milliseconds per token instead of under one.
const contextOptions = { contextSize: 1024, threads: 1 } as const;

let dir: string;
let llama: Llama;
let model: LlamaModel;

beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "mentator-synth-"));
    llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
    model = await llama.loadModel({ modelPath: await makeTinyModel(dir, "tiny") });
});

afterAll(async () => {
    await model?.dispose();
    await llama?.dispose();
    await fs.rm(dir, { recursive: true, force: true });
});

describe("tiny synthetic model on node-llama-cpp", () => {
    it("loads with the shape and special tokens it was written with", () => {
        expect(model.embeddingVectorSize).toBe(64);
        expect(model.trainContextSize).toBe(4096);
        expect(model.tokens.bos).toBe(1);
        expect(model.tokens.eos).toBe(2);
        expect(model.tokens.eot).toBe(260);
        expect(model.detokenize(model.tokenize("hello the world"))).toBe("hello the world");
        expect(model.tokenize("<|im_start|>", true)).toEqual([259]);
    });

    it("completes exactly the requested number of readable tokens", async () => {
        const context = await model.createContext(contextOptions);
        try {
            const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
            const tokens: number[] = [];
            const result = await completion.generateCompletionWithMeta("The quick brown fox", {
                maxTokens: 40, temperature: 1, seed: 3, onToken: (chunk) => void tokens.push(...chunk)
            });
            expect(tokens).toHaveLength(40);
            expect(result.metadata.stopReason).toBe("maxTokens");
            // byte and control tokens are suppressed by the weights: plain printable ASCII
            expect(tokens.every((token) => token > 260)).toBe(true);
            expect(result.response).toMatch(/^[\x20-\x7e]+$/);
        } finally {
            await context.dispose();
        }
    });

    it("answers in a chat session through the template's chat wrapper", async () => {
        const context = await model.createContext(contextOptions);
        try {
            const session = new LlamaChatSession({ contextSequence: context.getSequence() });
            expect(session.chatWrapper).not.toBeInstanceOf(GeneralChatWrapper);
            expect(session.chatWrapper.wrapperName).toBe("JinjaTemplate");
            const answer = await session.prompt("Hello, who are you?", { maxTokens: 12 });
            expect(answer.trim().length).toBeGreaterThan(0);

            const state = session.chatWrapper.generateContextState({
                chatHistory: [{ type: "user", text: "Weather?" }, { type: "model", response: [] }],
                availableFunctions: {
                    getWeather: { description: "Weather of a city", params: { type: "object", properties: { city: { type: "string" } } } }
                }
            });
            const prompt = state.contextText.toString();
            expect(prompt).toContain("<|im_start|>system\nYou are a helpful assistant.");
            expect(prompt).toContain("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"getWeather\"");
            expect(prompt.endsWith("<|im_start|>assistant\n")).toBe(true);
        } finally {
            await context.dispose();
        }
    });

    it("computes embeddings of the model's width", async () => {
        const context = await model.createEmbeddingContext({ contextSize: 256, threads: 1 });
        try {
            const first = await context.getEmbeddingFor("hello world");
            const second = await context.getEmbeddingFor("a different sentence about fish");
            expect(first.vector).toHaveLength(64);
            expect(first.vector.every(Number.isFinite)).toBe(true);
            expect(first.calculateCosineSimilarity(second)).toBeLessThan(0.999);
        } finally {
            await context.dispose();
        }
    });

    it("loads and generates as Q8_0 and F16 too", async () => {
        for (const quant of ["q8_0", "f16"] as const) {
            const quantModel = await llama.loadModel({ modelPath: await makeTinyModel(dir, `tiny-${quant}`, { quant }) });
            try {
                const context = await quantModel.createContext(contextOptions);
                const text = await new LlamaCompletion({ contextSequence: context.getSequence() })
                    .generateCompletion("Once upon a time", { maxTokens: 8 });
                expect(text.length).toBeGreaterThan(0);
                await context.dispose();
            } finally {
                await quantModel.dispose();
            }
        }
    });

    it("fails to load every kind of corrupt model", async () => {
        // A separate instance, never disposed: in node-llama-cpp 3.21.1 a model whose native load
        // fails (the truncated file) keeps a hold on its Llama, and once that model object is
        // garbage-collected, llama.dispose() never returns.
        const brokenLlama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.disabled });
        const kinds: CorruptModelKind[] = ["garbage", "badMagic", "truncated", "empty"];
        for (const kind of kinds) {
            const file = await makeCorruptModel(dir, `corrupt-${kind}`, kind);
            await expect(brokenLlama.loadModel({ modelPath: file }), kind).rejects.toThrow();
        }
    });
});

describe("makeTinyModel", () => {
    it("copies identical files from its cache and keys the cache by options", async () => {
        const a = await fs.readFile(await makeTinyModel(dir, "copy-a"));
        const b = await fs.readFile(await makeTinyModel(path.join(dir, "nested"), "copy-b"));
        const other = await fs.readFile(await makeTinyModel(dir, "copy-c", { seed: 5, contextLength: 2048 }));
        expect(a.equals(b)).toBe(true);
        expect(a.equals(other)).toBe(false);
        expect(a.subarray(0, 4).toString("latin1")).toBe("GGUF");
    });
});

describe("mentator dev synth-model", () => {
    async function runCli(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
        const program = new Command("mentator").exitOverride();
        registerDevCommands(program);
        let stdout = "";
        let stderr = "";
        const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
            stdout += String(chunk);
            return true;
        });
        const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
            stderr += String(chunk);
            return true;
        });
        const previousExitCode = process.exitCode;
        process.exitCode = undefined;
        try {
            await program.parseAsync(["dev", "synth-model", ...args], { from: "user" });
            return { exitCode: Number(process.exitCode ?? 0), stdout, stderr };
        } finally {
            process.exitCode = previousExitCode;
            out.mockRestore();
            err.mockRestore();
        }
    }

    it("writes a model and prints its path and size", async () => {
        const file = path.join(dir, "cli", "m.gguf");
        const result = await runCli("--out", file, "--quant", "q8_0", "--seed", "11");
        expect(result.exitCode).toBe(0);
        const size = (await fs.stat(file)).size;
        expect(result.stdout).toContain(file);
        expect(result.stdout).toContain(`${size} bytes`);

        const json = await runCli("--out", file, "--preset", "tiny", "--force", "--json");
        expect(json.exitCode).toBe(0);
        expect(JSON.parse(json.stdout)).toMatchObject({ path: file, sizeBytes: (await fs.stat(file)).size, tensors: 21 });
    });

    it("exits with 2 on bad usage", async () => {
        const file = path.join(dir, "cli", "bad.gguf");
        const cases: Array<[string[], RegExp]> = [
            [[], /--out FILE is required/],
            [["--out", file, "--preset", "huge"], /Unknown preset "huge".*tiny, qwen05, llama8b/],
            [["--out", file, "--quant", "q4_0"], /Unknown quant "q4_0".*f32, f16, q8_0/],
            [["--out", file, "--seed", "-1"], /--seed must be a non-negative integer/],
            [["--out", file, "--context-length", "0"], /--context-length/],
            [["--out", path.join(dir, "tiny.gguf")], /already exists/]
        ];
        for (const [args, message] of cases) {
            const result = await runCli(...args);
            expect(result.exitCode, args.join(" ")).toBe(2);
            expect(result.stderr).toMatch(message);
            expect(result.stdout).toBe("");
        }
        await expect(fs.access(file)).rejects.toThrow();
    });
});
