import { describe, expect, it } from "vitest";
import { InvalidModelUriError } from "../../src/models/download/InvalidModelUriError.js";
import { isModelUri, parseModelUri, suggestedFileName } from "../../src/models/download/parseModelUri.js";

describe("parseModelUri", () => {
    it("parses https, hf (file and quant, with revision), s3 and gs URIs", () => {
        expect(parseModelUri("https://example.com/models/a%20b.gguf?sig=1")).toMatchObject({ scheme: "http" });
        expect(suggestedFileName(parseModelUri("https://example.com/models/a%20b.gguf?sig=1"))).toBe("a b.gguf");
        expect(parseModelUri("hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q8_0.gguf")).toEqual({
            scheme: "hf",
            uri: "hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q8_0.gguf",
            owner: "Qwen",
            repo: "Qwen2.5-0.5B-Instruct-GGUF",
            revision: "main",
            file: "qwen2.5-0.5b-instruct-q8_0.gguf"
        });
        expect(parseModelUri("hf:bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M")).toMatchObject({ owner: "bartowski", quant: "Q4_K_M", revision: "main" });
        expect(parseModelUri("hf:org/repo@v1.0:Q8_0")).toMatchObject({ repo: "repo", revision: "v1.0", quant: "Q8_0" });
        expect(parseModelUri("hf://org/repo@abc123/sub/dir/m.gguf")).toMatchObject({ revision: "abc123", file: "sub/dir/m.gguf" });
        expect(suggestedFileName(parseModelUri("hf:org/repo/sub/m.gguf"))).toBe("m.gguf");
        expect(parseModelUri("s3://bucket/a/b/model.gguf")).toEqual({ scheme: "s3", uri: "s3://bucket/a/b/model.gguf", bucket: "bucket", key: "a/b/model.gguf" });
        expect(parseModelUri("gs://bucket/model.gguf")).toMatchObject({ scheme: "gs", bucket: "bucket", key: "model.gguf" });
    });

    it.each([
        ["ftp://x/y.gguf", "unsupported scheme"],
        ["hf:onlyowner", "expected hf:owner/repo/file.gguf"],
        ["hf:owner/repo", "expected hf:owner/repo/file.gguf"],
        ["hf:owner/repo/../x.gguf", "bad file path"],
        ["hf:../repo/x.gguf", "expected hf:owner/repo"],
        ["hf:owner/repo:Q4 K", "bad quantisation tag"],
        ["s3://bucket", "no object key"],
        ["s3://bucket/dir/", "no object key"],
        ["gs:///key", "no bucket name"],
        ["https://", "not a valid URL"],
        ["https://x/a\nb.gguf", "control characters"]
    ])("rejects %j (%s)", (uri, reason) => {
        expect(() => parseModelUri(uri)).toThrow(InvalidModelUriError);
        expect(() => parseModelUri(uri)).toThrow(reason);
    });

    it("tells URIs from model ids", () => {
        expect(isModelUri("hf:a/b/c.gguf")).toBe(true);
        expect(isModelUri("HTTPS://x/y")).toBe(true);
        expect(isModelUri("qwen2.5-0.5b-instruct-q8_0")).toBe(false);
        expect(isModelUri("Llama-3.1-8B:Q4_K_M")).toBe(false);
    });
});
