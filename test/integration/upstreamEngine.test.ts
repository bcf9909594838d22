import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyModel } from "../helpers/models.js";
import { startServer, tempDataDir, type RunningServer } from "../helpers/server.js";

// The `upstream` engine: server B serves model "remote" by forwarding to server A (node-llama-cpp, tiny model),
// so B's answers must equal A's, streams re-framed, usage and finish reasons passed on, errors mapped.

let upstream: RunningServer;
let front: RunningServer;
let direct: OpenAI;
let viaFront: OpenAI;
const UPSTREAM_KEY = "upstream-secret";

function writeConfig(dataDir: string, config: Record<string, unknown>): void {
    mkdirSync(join(dataDir, "models"), { recursive: true });
    writeFileSync(join(dataDir, "mentator-llm-service.conf.jsonc"), JSON.stringify(config));
}

beforeAll(async () => {
    const upstreamDir = tempDataDir();
    writeConfig(upstreamDir, { apiKeys: [UPSTREAM_KEY], engine: "node-llama-cpp", parallel: 2, contextSize: 512 });
    await makeTinyModel(join(upstreamDir, "models"), "tiny");
    upstream = await startServer({ dataDir: upstreamDir });
    await upstream.waitReady();

    const frontDir = tempDataDir();
    writeConfig(frontDir, {
        defaultModel: "remote",
        models: {
            remote: { upstream: `${upstream.url}/v1`, upstreamModel: "tiny", upstreamApiKey: UPSTREAM_KEY, parallel: 2 },
            badkey: { upstream: `${upstream.url}/v1`, upstreamModel: "tiny", upstreamApiKey: "wrong" }
        },
        limits: { maxLoadedModels: 2 }
    });
    front = await startServer({ dataDir: frontDir });
    await front.waitReady();
    direct = new OpenAI({ baseURL: `${upstream.url}/v1`, apiKey: UPSTREAM_KEY, maxRetries: 0 });
    viaFront = new OpenAI({ baseURL: `${front.url}/v1`, apiKey: "unused", maxRetries: 0 });
});

afterAll(async () => {
    await front?.stop("SIGTERM");
    await upstream?.stop("SIGTERM");
});

const greedy = { temperature: 0, seed: 7, max_tokens: 10 } as const;
const messages = [{ role: "user" as const, content: "Say something." }];

describe("upstream engine", () => {
    it("reports the upstream engine for the model and is ready", async () => {
        const version = (await (await fetch(`${front.url}/state/version`)).json()) as { engine: { name: string } };
        expect(version.engine.name).toBe("node-llama-cpp"); // the default for local models; "remote" has its own
        const models = await viaFront.models.list();
        expect(models.data.map((model) => model.id)).toContain("remote");
    });

    it("answers chat like the upstream itself, streamed and not, with its usage and finish reason", async () => {
        const reference = await direct.chat.completions.create({ ...greedy, model: "tiny", messages });
        const plain = await viaFront.chat.completions.create({ ...greedy, model: "remote", messages });
        expect(plain.model).toBe("remote");
        expect(plain.choices[0]!.message.content).toBe(reference.choices[0]!.message.content);
        expect(plain.choices[0]!.finish_reason).toBe("length");
        expect(plain.usage).toEqual(reference.usage);

        const stream = await viaFront.chat.completions.create({ ...greedy, model: "remote", messages, stream: true, stream_options: { include_usage: true } });
        let text = "";
        let finish: string | null = null;
        let usage: OpenAI.CompletionUsage | null | undefined;
        let chunks = 0;
        for await (const chunk of stream) {
            if (chunk.usage) usage = chunk.usage;
            const choice = chunk.choices[0];
            if (choice === undefined) continue;
            chunks++;
            text += choice.delta.content ?? "";
            finish = choice.finish_reason ?? finish;
        }
        expect(chunks).toBeGreaterThan(3);
        expect(text).toBe(reference.choices[0]!.message.content);
        expect(finish).toBe("length");
        expect(usage).toEqual(reference.usage);
    });

    it("passes completions and embeddings through", async () => {
        const reference = await direct.completions.create({ ...greedy, model: "tiny", prompt: "Once upon a time" });
        const answer = await viaFront.completions.create({ ...greedy, model: "remote", prompt: "Once upon a time" });
        expect(answer.choices[0]!.text).toBe(reference.choices[0]!.text);
        expect(answer.usage).toEqual(reference.usage);

        const embedded = await viaFront.embeddings.create({ model: "remote", input: ["hello", "world"] });
        const referenceEmbedding = await direct.embeddings.create({ model: "tiny", input: ["hello", "world"] });
        expect(embedded.data.map((item) => item.embedding)).toEqual(referenceEmbedding.data.map((item) => item.embedding));
        expect(embedded.usage.prompt_tokens).toBe(referenceEmbedding.usage.prompt_tokens);
    });

    it("maps the upstream's context overflow to our 400 and a refused key to a clear 503", async () => {
        const long = "word ".repeat(2000);
        const overflow = await fetch(`${front.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "remote", messages: [{ role: "user", content: long }] })
        });
        expect(overflow.status).toBe(400);
        const body = (await overflow.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe("context_length_exceeded");
        expect(body.error.message).toMatch(/context holds 512 tokens/);

        const refused = await fetch(`${front.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "badkey", messages })
        });
        expect(refused.status).toBe(503);
        expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/refused our credentials.*upstreamApiKey/);
    });

    it("answers 503 when the upstream is gone", async () => {
        await upstream.stop("SIGTERM");
        const response = await fetch(`${front.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "remote", messages })
        });
        expect(response.status).toBe(503);
        const body = (await response.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe("engine_unavailable");
        expect(body.error.message).toMatch(/cannot reach upstream/);
    });
});
