import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyModel } from "../helpers/models.js";
import { startServer, tempDataDir, type RunningServer } from "../helpers/server.js";

let server: RunningServer;
let client: OpenAI;
const API_KEY = "test-key-123";

beforeAll(async () => {
    const dataDir = tempDataDir();
    mkdirSync(join(dataDir, "models"), { recursive: true });
    await makeTinyModel(join(dataDir, "models"), "tiny");
    writeFileSync(
        join(dataDir, "mentator-llm-service.conf.jsonc"),
        JSON.stringify({ apiKeys: [API_KEY], parallel: 2, contextSize: 512, limits: { maxQueue: 4 } })
    );
    server = await startServer({ dataDir });
    await server.waitReady();
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: API_KEY, maxRetries: 0 });
});

afterAll(async () => {
    await server?.stop("SIGTERM");
});

const greedy = { model: "tiny", temperature: 0, seed: 42, max_tokens: 12 } as const;
const messages = [
    { role: "system" as const, content: "You are terse." },
    { role: "user" as const, content: "Say something." }
];

describe("OpenAI API through the official client", () => {
    it("lists models with the loaded state", async () => {
        const list = await client.models.list();
        const tiny = list.data.find((model) => model.id === "tiny") as unknown as { loaded: boolean; state: string };
        expect(tiny).toMatchObject({ loaded: true, state: "loaded" });
        const one = await client.models.retrieve("tiny");
        expect(one.id).toBe("tiny");
    });

    it("gives the same text with and without streaming at temperature 0", async () => {
        const plain = await client.chat.completions.create({ ...greedy, messages });
        const text = plain.choices[0]!.message.content ?? "";
        expect(text.length).toBeGreaterThan(0);
        expect(plain.usage?.completion_tokens).toBe(12);
        expect(plain.choices[0]!.finish_reason).toBe("length");

        const stream = await client.chat.completions.create({ ...greedy, messages, stream: true, stream_options: { include_usage: true } });
        let streamed = "";
        let role: string | undefined;
        let finish: string | null = null;
        let usage: OpenAI.CompletionUsage | undefined | null;
        for await (const chunk of stream) {
            if (chunk.usage) usage = chunk.usage;
            const choice = chunk.choices[0];
            if (choice === undefined) continue;
            role ??= choice.delta.role;
            streamed += choice.delta.content ?? "";
            finish = choice.finish_reason ?? finish;
        }
        expect(role).toBe("assistant");
        expect(streamed).toBe(text);
        expect(finish).toBe("length");
        expect(usage).toEqual(plain.usage);
    });

    it("returns JSON that parses and validates for a json_schema response format", async () => {
        const schema = {
            type: "object",
            properties: { ok: { type: "boolean" }, colour: { enum: ["red", "green", "blue"] }, count: { type: "integer", minimum: 0, maximum: 9 } },
            required: ["ok", "colour", "count"],
            additionalProperties: false
        };
        const response = await client.chat.completions.create({
            ...greedy,
            max_tokens: 200,
            messages,
            response_format: { type: "json_schema", json_schema: { name: "answer", schema } }
        });
        const parsed = JSON.parse(response.choices[0]!.message.content ?? "") as { ok: unknown; colour: unknown; count: unknown };
        expect(typeof parsed.ok).toBe("boolean");
        expect(["red", "green", "blue"]).toContain(parsed.colour);
        expect(Number.isInteger(parsed.count)).toBe(true);
    });

    it("returns a tool call the client parses (forced tool choice), also streamed", async () => {
        const tools: OpenAI.ChatCompletionTool[] = [
            {
                type: "function",
                function: {
                    name: "get_weather",
                    description: "Weather for a city",
                    parameters: { type: "object", properties: { city: { enum: ["Paris", "Oslo"] } }, required: ["city"] }
                }
            }
        ];
        const request = { ...greedy, max_tokens: 100, messages, tools, tool_choice: { type: "function" as const, function: { name: "get_weather" } } };
        const response = await client.chat.completions.create(request);
        const choice = response.choices[0]!;
        expect(choice.finish_reason).toBe("tool_calls");
        const call = choice.message.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall;
        expect(call.function.name).toBe("get_weather");
        expect(["Paris", "Oslo"]).toContain((JSON.parse(call.function.arguments) as { city: string }).city);

        const stream = client.chat.completions.stream({ ...request, stream: true });
        const final = await stream.finalChatCompletion();
        const streamedCall = final.choices[0]!.message.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall;
        expect(streamedCall.function.name).toBe("get_weather");
        expect(streamedCall.function.arguments).toBe(call.function.arguments);
    });

    it("serves text completions for a prompt array, streamed and not", async () => {
        const response = await client.completions.create({ model: "tiny", prompt: ["Once upon", "A time"], max_tokens: 6, temperature: 0 });
        expect(response.choices).toHaveLength(2);
        expect(response.usage?.completion_tokens).toBe(12);
        const stream = await client.completions.create({ model: "tiny", prompt: "Once upon", max_tokens: 6, temperature: 0, stream: true });
        let text = "";
        for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
        expect(text).toBe(response.choices[0]!.text);
    });

    it("returns embeddings as floats and base64 that decode to the same vector", async () => {
        const floats = await client.embeddings.create({ model: "tiny", input: ["hello world", "second"], encoding_format: "float" });
        expect(floats.data).toHaveLength(2);
        const vector = floats.data[0]!.embedding;
        expect(vector.length).toBeGreaterThan(0);
        const response = await fetch(`${server.url}/v1/embeddings`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${API_KEY}` },
            body: JSON.stringify({ model: "tiny", input: "hello world", encoding_format: "base64" })
        });
        const body = (await response.json()) as { data: Array<{ embedding: string }>; usage: { prompt_tokens: number } };
        const bytes = Buffer.from(body.data[0]!.embedding, "base64");
        const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
        expect(decoded).toHaveLength(vector.length);
        decoded.forEach((value, index) => expect(value).toBeCloseTo(vector[index]!, 5));
        expect(body.usage.prompt_tokens).toBeGreaterThan(0);
    });

    it("answers an unknown model with 404 model_not_found", async () => {
        const error = await client.chat.completions.create({ ...greedy, model: "nope", messages }).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(OpenAI.NotFoundError);
        expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe("model_not_found");
    });

    it("answers path traversal in the model id with 400", async () => {
        const error = await client.chat.completions.create({ ...greedy, model: "../etc/passwd", messages }).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    });

    it("answers a malformed body and wrong types with 400 in OpenAI's shape", async () => {
        const headers = { "content-type": "application/json", authorization: `Bearer ${API_KEY}` };
        const bad = await fetch(`${server.url}/v1/chat/completions`, { method: "POST", headers, body: "{not json" });
        expect(bad.status).toBe(400);
        expect(await bad.json()).toMatchObject({ error: { type: "invalid_request_error", message: expect.stringContaining("JSON") } });
        const wrong = await fetch(`${server.url}/v1/chat/completions`, {
            method: "POST",
            headers,
            body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "x" }], temperature: "hot" })
        });
        expect(wrong.status).toBe(400);
        expect(await wrong.json()).toMatchObject({ error: { param: "temperature" } });
        const n = await fetch(`${server.url}/v1/chat/completions`, {
            method: "POST",
            headers,
            body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "x" }], n: 3 })
        });
        expect(n.status).toBe(400);
        expect(await n.json()).toMatchObject({ error: { param: "n" } });
    });

    it("rejects a prompt longer than the context with 400 context_length_exceeded", async () => {
        const long = "word ".repeat(2000);
        const error = await client.chat.completions.create({ ...greedy, messages: [{ role: "user", content: long }], stream: true }).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(OpenAI.BadRequestError);
        expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe("context_length_exceeded");
    });

    it("requires the API key (401 in OpenAI's shape) but leaves health, version and metrics open", async () => {
        const anonymous = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "wrong", maxRetries: 0 });
        await expect(anonymous.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
        const missing = await fetch(`${server.url}/v1/models`);
        expect(missing.status).toBe(401);
        expect(await missing.json()).toMatchObject({ error: { code: "invalid_api_key" } });
        const viaHeader = await fetch(`${server.url}/v1/models`, { headers: { "x-api-key": API_KEY } });
        expect(viaHeader.status).toBe(200);
        for (const path of ["/health", "/health/live", "/health/ready", "/state/version", "/metrics"]) {
            expect((await fetch(`${server.url}${path}`)).status, path).toBe(200);
        }
    });

    it("exports request metrics labelled by model and logs requests in SQLite", async () => {
        const metrics = await (await fetch(`${server.url}/metrics`)).text();
        expect(metrics).toMatch(/mentator:prompt_tokens_total\{model="tiny"\} \d+/);
        expect(metrics).toMatch(/mentator:generation_tokens_total\{model="tiny"\} \d+/);
        expect(metrics).toMatch(/mentator:time_to_first_token_seconds_count\{model="tiny"\} \d+/);
        expect(metrics).toMatch(/mentator:e2e_request_latency_seconds_count\{model="tiny"\} \d+/);
        expect(metrics).toMatch(/mentator:request_queue_time_seconds_count\{model="tiny"\} \d+/);
        expect(metrics).toContain("mentator:num_requests_running");
        const db = new BetterSqlite3(join(server.dataDir, "mentator-llm-service.db"), { readonly: true });
        const rows = db.prepare("SELECT route, status, model, completion_tokens FROM request_log").all() as Array<{ route: string; status: number }>;
        db.close();
        expect(rows.some((row) => row.route === "/v1/chat/completions" && row.status === 200)).toBe(true);
        expect(rows.some((row) => row.status === 400)).toBe(true);
    });
});
