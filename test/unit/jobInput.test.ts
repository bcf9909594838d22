import { describe, expect, it } from "vitest";
import { JobInputError } from "../../src/jobs/JobInputError.js";
import { parseBatchLines, parseJobInput } from "../../src/jobs/parseJobInput.js";

function inputError(input: unknown): JobInputError {
    try {
        parseJobInput(input);
    } catch (error) {
        expect(error).toBeInstanceOf(JobInputError);
        return error as JobInputError;
    }
    throw new Error("expected a JobInputError");
}

describe("parseJobInput: openai_route + openai_input", () => {
    it("converts a chat request like the HTTP API does", () => {
        const parsed = parseJobInput({
            openai_route: "/v1/chat/completions",
            openai_input: { model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 5, temperature: 0, stop: "x" }
        });
        expect(parsed.kind).toBe("single");
        if (parsed.kind !== "single" || parsed.request.kind !== "generate") throw new Error("unexpected");
        expect(parsed.request.route).toBe("/v1/chat/completions");
        expect(parsed.request.model).toBe("tiny");
        expect(parsed.request.style).toBe("openai");
        expect(parsed.stream).toBe(false);
        const job = parsed.request.jobs[0]!;
        expect(job.kind).toBe("chat");
        if (job.kind !== "chat") throw new Error("unexpected");
        expect(job.request.messages).toEqual([{ role: "user", content: "hi" }]);
        expect(job.request.sampling).toMatchObject({ maxTokens: 5, temperature: 0, stop: ["x"] });
    });

    it("takes stream from openai_input, like worker-vllm", () => {
        const parsed = parseJobInput({ openai_route: "/v1/completions", openai_input: { prompt: ["a", "b"], stream: true, echo: true } });
        expect(parsed.stream).toBe(true);
        if (parsed.kind !== "single" || parsed.request.kind !== "generate") throw new Error("unexpected");
        expect(parsed.request.prompts).toEqual(["a", "b"]);
        expect(parsed.request.echo).toBe(true);
        expect(parsed.request.jobs).toHaveLength(2);
    });

    it("accepts embeddings", () => {
        const parsed = parseJobInput({ openai_route: "/v1/embeddings", openai_input: { input: ["x", "y"], encoding_format: "base64" } });
        if (parsed.kind !== "single" || parsed.request.kind !== "embed") throw new Error("unexpected");
        expect(parsed.request.inputs).toEqual(["x", "y"]);
        expect(parsed.request.encoding).toBe("base64");
    });

    it("names the field at fault", () => {
        expect(inputError({ openai_route: "/v1/chat/completions", openai_input: { messages: [] } }).message).toMatch(/^openai_input\.messages: messages must not be empty/);
        expect(inputError({ openai_route: "/v1/chat/completions", openai_input: { messages: [{ role: "user", content: "x" }], temperature: 5 } }).param).toBe(
            "openai_input.temperature"
        );
        expect(inputError({ openai_route: "/v1/models", openai_input: {} }).message).toMatch(/openai_route: expected one of \/v1\/chat\/completions/);
        expect(inputError({ openai_route: "/v1/completions" }).message).toMatch(/^openai_input: expected an object/);
        expect(inputError({ openai_route: "/v1/completions", openai_input: { prompt: "x", n: 2 } }).message).toMatch(/^openai_input\.n: n > 1 is not supported/);
    });

    it("refuses to mix forms", () => {
        expect(inputError({ openai_route: "/v1/completions", openai_input: { prompt: "x" }, prompt: "y" }).message).toMatch(/not both/);
        expect(inputError({ openai_route: "/v1/completions", openai_input: { prompt: "x" }, sampling_params: {} }).message).toMatch(/put the sampling fields in openai_input/);
        expect(inputError({ prompt: "x", batch: [{ prompt: "y" }] }).message).toMatch(/^prompt: not allowed together with batch/);
    });
});

describe("parseJobInput: the short form", () => {
    it("maps vLLM sampling_params onto a completion", () => {
        const parsed = parseJobInput({
            prompt: "hi",
            sampling_params: { max_tokens: 8, temperature: 0.5, top_p: 0.9, top_k: -1, min_p: 0.1, seed: 3, stop: ["\n"], ignore_eos: true, skip_special_tokens: true }
        });
        if (parsed.kind !== "single" || parsed.request.kind !== "generate") throw new Error("unexpected");
        expect(parsed.request.route).toBe("/v1/completions");
        expect(parsed.request.style).toBe("vllm");
        const job = parsed.request.jobs[0]!;
        if (job.kind !== "completion") throw new Error("unexpected");
        expect(job.request.prompt).toBe("hi");
        expect(job.request.sampling).toEqual({
            maxTokens: 8,
            temperature: 0.5,
            topP: 0.9,
            topK: undefined,
            minP: 0.1,
            seed: 3,
            stop: ["\n"],
            ignoreEos: true,
            presencePenalty: undefined,
            frequencyPenalty: undefined,
            logitBias: undefined
        });
    });

    it("uses chat for messages and for apply_chat_template, and OpenAI output on request", () => {
        const messages = parseJobInput({ messages: [{ role: "user", content: "hi" }], use_openai_format: true, stream: true, max_batch_size: 4 });
        if (messages.kind !== "single" || messages.request.kind !== "generate") throw new Error("unexpected");
        expect(messages.request.route).toBe("/v1/chat/completions");
        expect(messages.request.style).toBe("openai");
        expect(messages.stream).toBe(true);
        expect(messages.streamBatchSize).toBe(4);
        const templated = parseJobInput({ prompt: "hi", apply_chat_template: true });
        if (templated.kind !== "single" || templated.request.kind !== "generate") throw new Error("unexpected");
        expect(templated.request.route).toBe("/v1/chat/completions");
        const job = templated.request.jobs[0]!;
        if (job.kind !== "chat") throw new Error("unexpected");
        expect(job.request.messages).toEqual([{ role: "user", content: "hi" }]);
    });

    it("reports sampling mistakes under sampling_params", () => {
        expect(inputError({ prompt: "x", sampling_params: { temperature: -1 } }).param).toBe("sampling_params.temperature");
        expect(inputError({ prompt: "x", sampling_params: { max_tokens: "8" } }).param).toBe("sampling_params.max_tokens");
        const unknown = inputError({ prompt: "x", sampling_params: { repetition_penalty: 1.1 } });
        expect(unknown.message).toMatch(/^sampling_params\.repetition_penalty: unsupported sampling parameter \(supported: max_tokens/);
        expect(inputError({ prompt: "x", sampling_params: [1] }).message).toBe("sampling_params: expected an object");
        expect(inputError({ prompt: 3 }).param).toBe("prompt");
        expect(inputError({ messages: [{ role: "robot", content: "x" }] }).param).toMatch(/^messages\[0\]/);
    });

    it("rejects unknown fields, missing forms and bad options", () => {
        expect(inputError({ promt: "x" }).message).toMatch(/^input\.promt: unknown field/);
        expect(inputError({}).message).toMatch(/^input: expected one of: openai_route \+ openai_input, messages, prompt, batch, batch_url/);
        expect(inputError("hello").message).toMatch(/^input: expected an object/);
        expect(inputError({ prompt: "x", output: "ftp" }).message).toBe("output: expected one of inline, base64, s3, gcs");
        expect(inputError({ prompt: "x", stream: "yes" }).message).toBe("stream: expected true or false");
        expect(inputError({ prompt: "x", max_batch_size: 0 }).param).toBe("max_batch_size");
    });
});

describe("parseJobInput: batches", () => {
    it("accepts OpenAI requests, the short form and OpenAI Batch API lines", () => {
        const parsed = parseJobInput({
            batch: [
                { openai_route: "/v1/chat/completions", openai_input: { messages: [{ role: "user", content: "a" }] } },
                { prompt: "b", sampling_params: { max_tokens: 2 } },
                { custom_id: "c-1", method: "POST", url: "/v1/embeddings", body: { input: "c" } }
            ],
            output: "base64"
        });
        if (parsed.kind !== "batch") throw new Error("unexpected");
        expect(parsed.output).toBe("base64");
        expect(parsed.requests.map((request) => request.route)).toEqual(["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]);
        expect(parsed.requests[2]!.customId).toBe("c-1");
    });

    it("names the failing line", () => {
        expect(inputError({ batch: [{ prompt: "ok" }, { prompt: "x", sampling_params: { top_p: 7 } }] }).param).toBe("batch[1].sampling_params.top_p");
        expect(inputError({ batch: [] }).message).toBe("batch: expected a non-empty list of requests");
        expect(inputError({ batch: [{ batch: [] }] }).message).toBe("batch[0].batch: batches cannot be nested");
        expect(inputError({ batch: [{ custom_id: "a", url: "/v1/chat/completions", body: { messages: "no" } }] }).param).toBe("batch[0].openai_input.messages");
        expect(inputError({ batch_url: "ftp://x/y.jsonl" }).message).toMatch(/^batch_url: expected an https:\/\/, http:\/\/, s3:\/\/ or gs:\/\/ URL/);
    });

    it("accepts batch_url schemes", () => {
        for (const url of ["https://example.com/a.jsonl", "s3://bucket/a.jsonl", "gs://bucket/a.jsonl"]) {
            expect(parseJobInput({ batch_url: url })).toMatchObject({ kind: "batchUrl", url });
        }
    });

    it("parses JSONL documents line by line", () => {
        const requests = parseBatchLines('{"prompt":"a"}\n\n{"openai_route":"/v1/embeddings","openai_input":{"input":"b"}}\n', "mem");
        expect(requests.map((request) => request.kind)).toEqual(["generate", "embed"]);
        expect(() => parseBatchLines('{"prompt":"a"}\n{oops\n', "mem")).toThrow(/batch_url mem line 2: not valid JSON/);
        expect(() => parseBatchLines('{"prompt":"a"}\n{"prompt":5}\n', "mem")).toThrow(/^batch_url line 2\.prompt:/);
        expect(() => parseBatchLines("\n \n", "mem")).toThrow(/no requests/);
    });
});
