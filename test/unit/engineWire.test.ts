import { mkdtempSync } from "node:fs";
import fs from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { chooseEngine } from "../../src/engine/chooseEngine.js";
import { ContextLengthExceededError, EngineRequestError, EngineUnavailableError, UnsupportedRequestError } from "../../src/engine/engineErrors.js";
import { engineDirsOf, locateLlamaServer, readLlamaCppRelease, type LlamaServerLocation } from "../../src/engine/llamaServer/locateLlamaServer.js";
import { chooseParallel } from "../../src/engine/llamaServer/readModelShape.js";
import { llamaServerCmakeArgs } from "../../src/engine/llamaServer/buildLlamaServer.js";
import { DeltaReplay } from "../../src/engine/llamaServer/DeltaReplay.js";
import { highByteTokenIds, isUtf8Fault } from "../../src/engine/llamaServer/utf8Guard.js";
import { GenerationStreamReader } from "../../src/engine/openAiCompat/GenerationStreamReader.js";
import { OpenAiCompatClient } from "../../src/engine/openAiCompat/OpenAiCompatClient.js";
import { toChatCompletionBody, toCompletionBody } from "../../src/engine/openAiCompat/toOpenAiBodies.js";
import { readSseStream, SseDecoder, type SseEvent } from "../../src/engine/SseDecoder.js";
import type { GenerationDelta } from "../../src/engine/types.js";
import { toHttpError } from "../../src/http/errors.js";

/** The events an SseDecoder reports for these chunks, then the end of the body. */
function decode(...parts: (string | Uint8Array)[]): SseEvent[] {
    const events: SseEvent[] = [];
    const decoder = new SseDecoder((event) => events.push(event));
    for (const part of parts) decoder.push(typeof part === "string" ? Buffer.from(part) : part);
    decoder.end();
    return events;
}

const present: LlamaServerLocation = { found: true, path: "/e/cpu/llama-server", source: "engineDir", backend: "cpu", release: "v1", reason: "prebuilt /e/cpu/llama-server" };
const absent: LlamaServerLocation = { found: false, backend: "cuda", release: "v1", reason: "no llama-server for cuda" };

describe("SseDecoder", () => {
    it("splits events across chunk boundaries, CRLF and lone CR included, and skips comments", () => {
        expect(decode("data: {\"a\":1}\r", "\n\r\n: ping\n\nevent: x\ndata: one\ndata: two\n\ndata: [DO", "NE]\n\n", "data: cr\r\r")).toEqual([
            { event: "message", data: "{\"a\":1}" },
            { event: "x", data: "one\ntwo" },
            { event: "message", data: "[DONE]" },
            { event: "message", data: "cr" }
        ]);
    });

    it("decodes UTF-8 split between chunks and flushes a last event without a blank line", () => {
        const bytes = Buffer.from("data: h\u00e9llo\n");
        expect(decode(bytes.subarray(0, 8), bytes.subarray(8))).toEqual([{ event: "message", data: "h\u00e9llo" }]);
        expect(decode("data: last")).toEqual([{ event: "message", data: "last" }]);
    });

    it("reads a stream until its end, stops early on request, and rejects when the body breaks", async () => {
        const seen: string[] = [];
        await readSseStream(Readable.from([Buffer.from("data: 1\n\ndata: [DONE]\n\ndata: after\n\n")]), (event) => {
            seen.push(event.data);
            return event.data === "[DONE]" ? "stop" : undefined;
        });
        expect(seen).toEqual(["1", "[DONE]"]);

        const broken = new Readable({ read() {} });
        const reading = readSseStream(broken, () => undefined);
        broken.push(Buffer.from("data: partial"));
        broken.destroy(new Error("socket hang up"));
        await expect(reading).rejects.toThrow("socket hang up");

        const thrown = readSseStream(Readable.from([Buffer.from("data: x\n\n")]), () => {
            throw new Error("not JSON");
        });
        await expect(thrown).rejects.toThrow("not JSON");
    });
});

describe("GenerationStreamReader", () => {
    it("folds chat deltas, tool calls by index, the finish reason and usage", () => {
        const deltas: GenerationDelta[] = [];
        const reader = new GenerationStreamReader({ onDelta: (delta) => deltas.push(delta) });
        reader.push({ choices: [{ index: 0, delta: { role: "assistant", content: null } }] });
        reader.push({ choices: [{ index: 0, delta: { content: "Hel" } }] });
        reader.push({ choices: [{ index: 0, delta: { content: "lo" } }] });
        reader.push({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: "c1", type: "function", function: { name: "f", arguments: "{\"a\"" } }] } }] });
        reader.push({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: ":1}" } }] } }] });
        expect(reader.result()).toBeUndefined();
        reader.push({ choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] });
        reader.push({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 } });
        expect(reader.result()).toEqual({
            text: "Hello",
            toolCalls: [{ id: "c1", name: "f", arguments: "{\"a\":1}" }],
            finishReason: "tool_calls",
            promptTokens: 7,
            completionTokens: 5
        });
        expect(deltas).toEqual([
            { type: "text", text: "Hel" },
            { type: "text", text: "lo" },
            { type: "toolCall", index: 0, id: "c1", name: "f", argumentsDelta: "{\"a\"" },
            { type: "toolCall", index: 0, argumentsDelta: ":1}" }
        ]);
    });

    it("reads completion chunks and maps finish reasons", () => {
        const reader = new GenerationStreamReader({});
        reader.push({ choices: [{ index: 0, text: "abc", finish_reason: null }] });
        reader.push({ choices: [{ index: 0, text: "", finish_reason: "length" }], usage: { prompt_tokens: 3, completion_tokens: 16 } });
        expect(reader.result()).toMatchObject({ text: "abc", finishReason: "length", promptTokens: 3, completionTokens: 16 });
    });
});

describe("OpenAI request bodies", () => {
    const sampling = { maxTokens: 5, temperature: 0, topK: 1, ignoreEos: true, stop: ["x"], logitBias: { 7: -100, 8: 2 } };

    it("gives llama-server its extras and OpenAI's bans as false", () => {
        const body = toChatCompletionBody(
            {
                messages: [
                    { role: "user", content: "hi" },
                    { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "f", arguments: "{}" }] },
                    { role: "tool", content: "42", toolCallId: "c1" }
                ],
                tools: [{ name: "f", parameters: { type: "object" } }],
                toolChoice: { name: "f" },
                responseFormat: { type: "json_object" },
                sampling
            },
            { dialect: "llama-server" }
        );
        expect(body).toMatchObject({
            stream: true,
            stream_options: { include_usage: true },
            max_tokens: 5,
            temperature: 0,
            top_k: 1,
            ignore_eos: true,
            stop: ["x"],
            logit_bias: [[7, false], [8, 2]],
            tool_choice: { type: "function", function: { name: "f" } },
            response_format: { type: "json_object" }
        });
        expect(body.messages).toEqual([
            { role: "user", content: "hi" },
            { role: "assistant", content: "", tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }] },
            { role: "tool", content: "42", tool_call_id: "c1" }
        ]);
        expect(body).not.toHaveProperty("model");
    });

    it("sends an upstream only what was set, with its model name", () => {
        const body = toCompletionBody({ prompt: "p", sampling: { maxTokens: 3, logitBias: { 7: -100 } } }, { dialect: "openai", model: "m" });
        expect(body).toEqual({ model: "m", prompt: "p", stream: true, stream_options: { include_usage: true }, max_tokens: 3, logit_bias: { 7: -100 } });
        const schema = toCompletionBody({ prompt: "p", responseFormat: { type: "json_schema", schema: { type: "object" } }, sampling: {} }, { dialect: "llama-server" });
        expect(schema.json_schema).toEqual({ type: "object" });
    });
});

describe("OpenAiCompatClient.errorFor", () => {
    const client = new OpenAiCompatClient({ modelId: "m", peer: "llama-server" });

    it("turns llama-server's and vLLM's context overflow into ContextLengthExceededError (HTTP 400)", () => {
        const llama = client.errorFor(400, JSON.stringify({ error: { code: 400, type: "exceed_context_size_error", message: "too long", n_prompt_tokens: 300, n_ctx: 256 } }));
        expect(llama).toBeInstanceOf(ContextLengthExceededError);
        expect(llama).toMatchObject({ promptTokens: 300, contextSize: 256 });
        const vllm = client.errorFor(400, JSON.stringify({ message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4990 in the messages, 10 in the completion).", type: "BadRequestError" }));
        expect(vllm).toMatchObject({ promptTokens: 4990, contextSize: 4096 });
        expect(toHttpError(llama).statusCode).toBe(400);
    });

    it("maps other answers to 400, 503 and 502", () => {
        expect(client.errorFor(400, "{\"error\":{\"message\":\"bad grammar\"}}")).toBeInstanceOf(UnsupportedRequestError);
        const busy = client.errorFor(503, "{\"error\":{\"message\":\"Loading model\"}}");
        expect(busy).toBeInstanceOf(EngineUnavailableError);
        expect(toHttpError(busy).statusCode).toBe(503);
        const broken = client.errorFor(500, "boom");
        expect(broken).toBeInstanceOf(EngineRequestError);
        expect(toHttpError(broken)).toMatchObject({ statusCode: 502, code: "engine_failed" });
    });
});

describe("chooseEngine", () => {
    it("auto picks llama-server when its binary is there, else node-llama-cpp", () => {
        expect(chooseEngine({ requested: "auto", upstream: false, llamaServer: present }).engine).toBe("llama-server");
        const fallback = chooseEngine({ requested: "auto", upstream: false, llamaServer: absent });
        expect(fallback.engine).toBe("node-llama-cpp");
        expect(fallback.reason).toContain("no llama-server for cuda");
    });

    it("honours a forced engine, fails a forced llama-server without binary, and always routes upstream models upstream", () => {
        expect(chooseEngine({ requested: "node-llama-cpp", upstream: false, llamaServer: present }).engine).toBe("node-llama-cpp");
        expect(chooseEngine({ requested: "llama-server", upstream: false, llamaServer: absent }).error).toContain("no llama-server");
        const upstream = chooseEngine({ requested: "llama-server", upstream: true, llamaServer: absent });
        expect(upstream.engine).toBe("upstream");
        expect(upstream.error).toBeUndefined();
    });
});

describe("locateLlamaServer", () => {
    it("looks in the engine folder first, then in the build cache (only complete builds count)", async () => {
        const root = mkdtempSync(path.join(tmpdir(), "mentator-engines-"));
        const dirs = engineDirsOf({ dataDir: root, engineDir: "prebuilt", engineCache: "" });
        expect(dirs).toEqual({ engineDir: path.join(root, "prebuilt"), cacheDir: path.join(root, "engines") });
        expect((await locateLlamaServer("cpu", dirs, "v9")).found).toBe(false);

        const cached = path.join(root, "engines", "v9", "cpu");
        await fs.mkdir(cached, { recursive: true });
        await fs.writeFile(path.join(cached, "llama-server"), "#!/bin/sh\n", { mode: 0o755 });
        expect((await locateLlamaServer("cpu", dirs, "v9")).found).toBe(false); // no build.json: interrupted
        await fs.writeFile(path.join(cached, "build.json"), "{}");
        expect(await locateLlamaServer("cpu", dirs, "v9")).toMatchObject({ found: true, source: "cache", path: path.join(cached, "llama-server") });
        expect((await locateLlamaServer("cpu", dirs, "v10")).found).toBe(false); // another release

        const prebuilt = path.join(root, "prebuilt", "cpu");
        await fs.mkdir(prebuilt, { recursive: true });
        await fs.writeFile(path.join(prebuilt, "llama-server"), "#!/bin/sh\n", { mode: 0o755 });
        expect(await locateLlamaServer("cpu", dirs, "v9")).toMatchObject({ found: true, source: "engineDir" });
        expect((await locateLlamaServer("cuda", dirs, "v9")).reason).toContain("mentator engine build --gpu cuda");

        // A native build from a CPU with more SIMD features than this one does not count.
        await fs.rm(prebuilt, { recursive: true });
        await fs.writeFile(path.join(cached, "build.json"), JSON.stringify({ simd: ["avx2", "avx512f"] }));
        expect((await locateLlamaServer("cpu", dirs, "v9", ["avx2", "avx512f", "fma"])).found).toBe(true);
        const foreign = await locateLlamaServer("cpu", dirs, "v9", ["avx2"]);
        expect(foreign.found).toBe(false);
        expect(foreign.reason).toMatch(/built for a CPU with avx512f.*--force/);
    });

    it("reads node-llama-cpp's llama.cpp release", async () => {
        expect(await readLlamaCppRelease()).toMatch(/^[\w.-]+$/);
    });
});

describe("engine build and sizing", () => {
    it("builds llama-server alone, offline, for the backend", () => {
        const cpu = llamaServerCmakeArgs({ backend: "cpu" });
        expect(cpu).toEqual(expect.arrayContaining(["-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF", "-DGGML_NATIVE=ON"]));
        expect(cpu.some((arg) => arg.startsWith("-DGGML_CUDA"))).toBe(false);
        expect(llamaServerCmakeArgs({ backend: "cuda", cudaArchitectures: "90" })).toEqual(expect.arrayContaining(["-DGGML_CUDA=ON", "-DCMAKE_CUDA_ARCHITECTURES=90"]));
        expect(llamaServerCmakeArgs({ backend: "rocm", amdgpuTargets: "gfx90a" })).toEqual(expect.arrayContaining(["-DGGML_HIP=ON", "-DAMDGPU_TARGETS=gfx90a"]));
    });

    it("chooses parallel sequences from the KV cache size and free memory", () => {
        const shape = { fileBytes: 600e6, kvBytesPerToken: 12_288 };
        expect(chooseParallel(shape, 4096, { onGpu: false, freeBytes: 16e9 })).toBe(4);
        expect(chooseParallel(shape, 4096, { onGpu: false, freeBytes: 150e6 })).toBe(1);
        expect(chooseParallel(shape, 4096, { onGpu: true, freeBytes: 80e9 })).toBe(16);
        expect(chooseParallel(shape, 4096, { onGpu: true, freeBytes: 1e9 })).toBe(2);
    });
});

describe("UTF-8 guard helpers", () => {
    it("finds the high byte tokens of SentencePiece and byte-level BPE vocabularies", () => {
        const spm = ["<unk>", "<s>", "</s>", ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`), "\u2581the"];
        const ids = highByteTokenIds("llama", spm);
        expect(ids).toHaveLength(128);
        expect(ids[0]).toBe(3 + 0x80);
        // GPT-2's alphabet: byte 0x80 is U+0122 ("Ģ"), byte 0xE2 is "â", byte 0x41 ("A") is not high.
        const bpe = ["A", "Ģ", "â", "the", "âĢ"];
        expect(highByteTokenIds("gpt2", bpe)).toEqual([1, 2]);
        expect(highByteTokenIds("bert", bpe)).toEqual([]);
    });

    it("recognises llama-server's fault and nothing else", () => {
        expect(isUtf8Fault(new EngineRequestError("m", "llama-server answered HTTP 500: The model produced output that does not match the expected Content-only format"))).toBe(true);
        expect(isUtf8Fault(new EngineRequestError("m", "llama-server answered HTTP 500: boom"))).toBe(false);
        expect(isUtf8Fault(new Error("does not match the expected peg-native format"))).toBe(false);
    });

    it("replays a regenerated stream without sending anything twice, and refuses a different one", () => {
        const seen: GenerationDelta[] = [];
        const replay = new DeltaReplay("m", { streamed: true, onDelta: (delta) => seen.push(delta) });
        const first = replay.callbacks();
        first.onDelta!({ type: "text", text: "Hel" });
        first.onDelta!({ type: "text", text: "lo" });
        replay.startReplay();
        const second = replay.callbacks();
        second.onDelta!({ type: "text", text: "He" });
        second.onDelta!({ type: "text", text: "llo w" });
        second.onDelta!({ type: "text", text: "orld" });
        expect(seen.map((delta) => (delta.type === "text" ? delta.text : "")).join("")).toBe("Hello world");
        expect(seen.at(-2)).toEqual({ type: "text", text: " w" });

        replay.startReplay();
        expect(() => replay.callbacks().onDelta!({ type: "text", text: "Help" })).toThrow(EngineRequestError);

        // Not streamed to a client: the regenerated text simply replaces the first attempt's.
        const observed: string[] = [];
        const quiet = new DeltaReplay("m", { onDelta: (delta) => observed.push(delta.type === "text" ? delta.text : "") });
        quiet.callbacks().onDelta!({ type: "text", text: "abc" });
        quiet.startReplay();
        expect(() => quiet.callbacks().onDelta!({ type: "text", text: "xyz" })).not.toThrow();
    });
});
