import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeByteTokenModel } from "../helpers/byteTokenModel.js";
import { llamaServerChildren, requireCpuLlamaServer } from "../helpers/llamaServerBuild.js";
import { makeTinyModel } from "../helpers/models.js";
import { startServer, tempDataDir, type RunningServer } from "../helpers/server.js";

// Our server on the `llama-server` engine (the CPU build from the engine cache), driven through its HTTP API.
// Answers are compared with the managed llama-server's own answers to show that usage and finish reasons
// pass through exactly.

const CONTEXT = 2048;
let server: RunningServer;
let client: OpenAI;

beforeAll(async () => {
    const { cacheDir } = await requireCpuLlamaServer();
    const dataDir = tempDataDir();
    mkdirSync(join(dataDir, "models"), { recursive: true });
    await makeTinyModel(join(dataDir, "models"), "tiny");
    await makeByteTokenModel(join(dataDir, "models"), "bytes");
    writeFileSync(
        join(dataDir, "mentator-llm-service.conf.jsonc"),
        JSON.stringify({ engine: "llama-server", engineCache: cacheDir, defaultModel: "tiny", parallel: 2, contextSize: CONTEXT, limits: { maxLoadedModels: 2 } })
    );
    server = await startServer({ dataDir });
    await server.waitReady();
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
});

afterAll(async () => {
    const pid = server?.process.pid;
    const children = pid !== undefined ? llamaServerChildren(pid).map((child) => child.pid) : [];
    await server?.stop("SIGTERM");
    // Shutdown stops every llama-server it started.
    for (const child of children) expect(() => process.kill(child, 0)).toThrow();
});

/** The managed llama-server of a model, to compare with what it answers directly. */
function llamaServerOf(model: string): { pid: number; url: string } {
    const child = llamaServerChildren(server.process.pid!).find((entry) => entry.args[entry.args.indexOf("-a") + 1] === model && !entry.args.includes("--embeddings"));
    if (child === undefined) throw new Error(`no llama-server for ${model}:\n${server.logs()}`);
    return { pid: child.pid, url: `http://127.0.0.1:${child.args[child.args.indexOf("--port") + 1]}` };
}

async function postJson(url: string, body: unknown): Promise<{ status: number; json: Record<string, any> }> {
    const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: response.status, json: (await response.json()) as Record<string, any> };
}

async function streamChat(body: Record<string, unknown>) {
    const response = await fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } })
    });
    const text = await response.text();
    return { status: response.status, events: text.split("\n\n").filter((event) => event.startsWith("data: ")).map((event) => event.slice(6)) };
}

const messages = [{ role: "user" as const, content: "Say something." }];
const greedy = { temperature: 0, seed: 5, max_tokens: 12 } as const;

describe("llama-server engine", () => {
    it("runs one llama-server per model with parallel slots and reports the engine", async () => {
        const version = (await (await fetch(`${server.url}/state/version`)).json()) as { engine: { name: string; backend: string; version: string } };
        expect(version.engine).toMatchObject({ name: "llama-server", backend: "cpu" });
        const { args } = llamaServerChildren(server.process.pid!).find((child) => child.args.includes("tiny"))!;
        expect(args[args.indexOf("-np") + 1]).toBe("2");
        expect(args[args.indexOf("-c") + 1]).toBe(String(2 * CONTEXT));
        expect(args[args.indexOf("--host") + 1]).toBe("127.0.0.1");
    });

    it("answers chat streamed and not with llama-server's own text, usage and finish reason", async () => {
        const direct = await postJson(`${llamaServerOf("tiny").url}/v1/chat/completions`, { ...greedy, messages });
        expect(direct.status).toBe(200);

        const plain = await client.chat.completions.create({ ...greedy, model: "tiny", messages });
        expect(plain.choices[0]!.message.content).toBe(direct.json.choices[0].message.content);
        expect(plain.choices[0]!.finish_reason).toBe("length");
        expect(plain.usage).toMatchObject({ prompt_tokens: direct.json.usage.prompt_tokens, completion_tokens: 12, total_tokens: direct.json.usage.prompt_tokens + 12 });

        const stream = await client.chat.completions.create({ ...greedy, model: "tiny", messages, stream: true, stream_options: { include_usage: true } });
        let text = "";
        let finish: string | null = null;
        let usage: OpenAI.CompletionUsage | null | undefined;
        let chunks = 0;
        for await (const chunk of stream) {
            if (chunk.usage) usage = chunk.usage;
            const choice = chunk.choices[0];
            if (choice === undefined) continue;
            if (choice.delta.content) chunks++;
            text += choice.delta.content ?? "";
            finish = choice.finish_reason ?? finish;
        }
        expect(chunks).toBeGreaterThan(3);
        expect(text).toBe(plain.choices[0]!.message.content);
        expect(finish).toBe("length");
        expect(usage).toEqual(plain.usage);
    });

    it("finishes with stop on a stop string and on end of generation", async () => {
        const reference = await client.chat.completions.create({ ...greedy, max_tokens: 20, model: "tiny", messages });
        const text = reference.choices[0]!.message.content ?? "";
        const stop = text.slice(6, 9);
        const stopped = await client.chat.completions.create({ ...greedy, max_tokens: 20, model: "tiny", messages, stop: [stop] });
        expect(stopped.choices[0]!.finish_reason).toBe("stop");
        expect(stopped.choices[0]!.message.content).toBe(text.slice(0, text.indexOf(stop)));
        expect(stopped.usage!.completion_tokens).toBeLessThan(20);
    });

    it("serves text completions with exact usage", async () => {
        const direct = await postJson(`${llamaServerOf("tiny").url}/v1/completions`, { ...greedy, prompt: "Once upon a time" });
        const answer = await client.completions.create({ ...greedy, model: "tiny", prompt: "Once upon a time" });
        expect(answer.choices[0]!.text).toBe(direct.json.choices[0].text);
        expect(answer.choices[0]!.finish_reason).toBe("length");
        expect(answer.usage).toMatchObject({ prompt_tokens: direct.json.usage.prompt_tokens, completion_tokens: 12 });
    });

    it("refuses a prompt longer than the context with 400 and caps generation at the context", async () => {
        const long = await postJson(`${server.url}/v1/chat/completions`, { model: "tiny", messages: [{ role: "user", content: "word ".repeat(CONTEXT + 200) }] });
        expect(long.status).toBe(400);
        expect(long.json.error.code).toBe("context_length_exceeded");
        expect(long.json.error.message).toMatch(new RegExp(`context holds ${CONTEXT} tokens`));

        // No max_tokens, EOS ignored: the answer runs to the end of the context, no further.
        const full = await postJson(`${server.url}/v1/chat/completions`, { model: "tiny", messages: [{ role: "user", content: "word ".repeat(CONTEXT - 80) }], ignore_eos: true, temperature: 0 });
        expect(full.status).toBe(200);
        expect(full.json.choices[0].finish_reason).toBe("length");
        expect(full.json.usage.prompt_tokens + full.json.usage.completion_tokens).toBe(CONTEXT);
    });

    it("gives the request in flight a clean error when llama-server dies, and serves the next one", async () => {
        const { pid } = llamaServerOf("tiny");
        const response = await fetch(`${server.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "tiny", messages, max_tokens: CONTEXT, ignore_eos: true, temperature: 0.8, stream: true })
        });
        expect(response.status).toBe(200);
        const reader = response.body!.getReader();
        let received = "";
        let killed = false;
        for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            received += Buffer.from(value).toString("utf8");
            if (!killed && received.split("\n\n").length > 4) {
                process.kill(pid, "SIGKILL");
                killed = true;
            }
        }
        expect(killed).toBe(true);
        const events = received.split("\n\n").filter((event) => event.startsWith("data: ")).map((event) => event.slice(6));
        expect(events.at(-1)).toBe("[DONE]");
        const error = JSON.parse(events.at(-2)!) as { error: { code: string; message: string } };
        expect(error.error.code).toBe("engine_failed");
        expect(error.error.message).toMatch(/llama-server exited during the request \(signal SIGKILL\)/);

        const next = await client.chat.completions.create({ ...greedy, model: "tiny", messages });
        expect(next.choices[0]!.finish_reason).toBe("length");
        expect(llamaServerOf("tiny").pid).not.toBe(pid);

        // A non-streamed request killed mid-way is a 502 in OpenAI's error shape.
        const pending = postJson(`${server.url}/v1/chat/completions`, { model: "tiny", messages, max_tokens: CONTEXT, ignore_eos: true });
        await new Promise((resolve) => setTimeout(resolve, 150));
        process.kill(llamaServerOf("tiny").pid, "SIGKILL");
        const failed = await pending;
        if (failed.status !== 200) {
            expect(failed.status).toBe(502);
            expect(failed.json.error.code).toBe("engine_failed");
        }
        const after = await client.chat.completions.create({ ...greedy, model: "tiny", messages });
        expect(after.choices[0]!.message.content).toBe(next.choices[0]!.message.content);
    });

    it("never lets llama-server's invalid-UTF-8 fault reach the client", async () => {
        const bytesRequest = { model: "bytes", messages, max_tokens: 40, temperature: 1, seed: 11 };
        // Warm up: loads the model. Its plain output is full of lone byte tokens...
        const ours = await postJson(`${server.url}/v1/chat/completions`, bytesRequest);
        expect(ours.status).toBe(200);
        // ...which llama-server itself cannot return:
        const direct = await postJson(`${llamaServerOf("bytes").url}/v1/chat/completions`, bytesRequest);
        expect(direct.status).toBe(500);
        expect(direct.json.error.message).toMatch(/does not match the expected/);

        const text = ours.json.choices[0].message.content as string;
        expect(ours.json.usage.completion_tokens).toBe(40);
        expect(text).not.toContain("\uFFFD");
        expect(Buffer.from(text, "utf8").toString("utf8")).toBe(text);

        // Streamed and as a completion, too; byte tokens that form valid characters still come through.
        const streamed = await streamChat(bytesRequest);
        expect(streamed.status).toBe(200);
        expect(streamed.events.at(-1)).toBe("[DONE]");
        expect(streamed.events.some((event) => event.includes("\"error\""))).toBe(false);
        const completion = await postJson(`${server.url}/v1/completions`, { model: "bytes", prompt: "Once", max_tokens: 60, temperature: 1, seed: 3 });
        expect(completion.status).toBe(200);
        expect(completion.json.choices[0].text).not.toContain("\uFFFD");
        const euro = await postJson(`${server.url}/v1/completions`, { model: "bytes", prompt: "Once", max_tokens: 9, temperature: 0, logit_bias: { 229: 100, 133: 100, 175: 100 } });
        expect(euro.status).toBe(200);
        expect(euro.json.choices[0].text).toMatch(/^[\u2000-\u2fff]{3}$/); // three 3-byte characters made of byte tokens
    });

    it("retries the fault once where the grammar cannot go (tools with tool_choice auto)", async () => {
        const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
        let faults = 0;
        for (const seed of [1, 2, 3]) {
            const request = { model: "bytes", messages, tools, max_tokens: 30, temperature: 1, seed };
            // The same request straight to llama-server shows the fault happens...
            if ((await postJson(`${llamaServerOf("bytes").url}/v1/chat/completions`, request)).status === 500) faults++;
            // ...and never comes through us.
            const response = await postJson(`${server.url}/v1/chat/completions`, request);
            expect(response.status).toBe(200);
            expect(response.json.choices[0].message.content ?? "").not.toContain("\uFFFD");
        }
        expect(faults).toBeGreaterThan(0);
        // Streamed, what was sent must be reproduced: the answer completes, or ends with a clean 502-class event.
        for (const seed of [1, 2, 3]) {
            const streamed = await streamChat({ model: "bytes", messages, tools, max_tokens: 30, temperature: 1, seed });
            expect(streamed.status).toBe(200);
            expect(streamed.events.at(-1)).toBe("[DONE]");
            const failure = streamed.events.find((event) => event.includes("\"error\""));
            if (failure !== undefined) expect((JSON.parse(failure) as { error: { code: string } }).error.code).toBe("engine_failed");
        }
        expect(server.logs()).not.toMatch(/does not match the expected .* format.*"statusCode":500/);
    });

    it("serves embeddings from a second llama-server started on first use", async () => {
        const before = llamaServerChildren(server.process.pid!).filter((child) => child.args.includes("--embeddings")).length;
        const embedded = await client.embeddings.create({ model: "tiny", input: ["hello", "world"] });
        expect(embedded.data).toHaveLength(2);
        expect(embedded.data[0]!.embedding).toHaveLength(64);
        expect(embedded.usage.prompt_tokens).toBeGreaterThan(0);
        expect(llamaServerChildren(server.process.pid!).filter((child) => child.args.includes("--embeddings")).length).toBe(before + 1);
    });

    it("supports forced tool calls and JSON schema output", async () => {
        const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 } }, required: ["city"] } } }];
        const called = await client.chat.completions.create({ model: "tiny", messages, tools, tool_choice: { type: "function", function: { name: "get_weather" } }, max_tokens: 60, temperature: 0 });
        expect(called.choices[0]!.finish_reason).toBe("tool_calls");
        const call = called.choices[0]!.message.tool_calls![0] as { function: { name: string; arguments: string } };
        expect(call.function.name).toBe("get_weather");
        expect(typeof (JSON.parse(call.function.arguments) as { city: unknown }).city).toBe("string");

        const schema = { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"], additionalProperties: false };
        const json = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 200, temperature: 0, response_format: { type: "json_schema", json_schema: { name: "r", schema } } });
        expect(typeof (JSON.parse(json.choices[0]!.message.content ?? "") as { ok: unknown }).ok).toBe("boolean");
    });
});
