import { describe, expect, it } from "vitest";
import { Base64Sink } from "../../src/storage/Base64Sink.js";
import { buildObjectKey } from "../../src/storage/buildObjectKey.js";
import { InlineSink } from "../../src/storage/InlineSink.js";
import { parseObjectUri } from "../../src/storage/parseObjectUri.js";
import { retryWithBackoff } from "../../src/util/retryWithBackoff.js";

const created = new Date(Date.UTC(2024, 0, 5, 0, 0, 1));

describe("buildObjectKey", () => {
    it("files a job under <prefix>/<yyyy>/<mm>/<dd>/<jobId>.<format>, in UTC", () => {
        expect(buildObjectKey("mentator/outputs", { jobId: "abc-1", format: "json", createdAt: created })).toBe("mentator/outputs/2024/01/05/abc-1.json");
        expect(buildObjectKey("/p/", { jobId: "abc", format: "jsonl", createdAt: created })).toBe("p/2024/01/05/abc.jsonl");
        expect(buildObjectKey("", { jobId: "abc", format: "json", createdAt: created })).toBe("2024/01/05/abc.json");
    });

    it("keeps a job id from adding path levels", () => {
        expect(buildObjectKey("p", { jobId: "../../etc/passwd", format: "json", createdAt: created })).toBe("p/2024/01/05/.._.._etc_passwd.json");
        expect(() => buildObjectKey("p", { jobId: "..", format: "json", createdAt: created })).toThrow(/cannot name an object/);
        expect(() => buildObjectKey("p", { jobId: "", format: "json", createdAt: created })).toThrow(/cannot name an object/);
    });
});

describe("inline and base64 sinks", () => {
    it("inline returns the JSON value, and a JSONL batch as an array of lines", async () => {
        const sink = new InlineSink();
        expect(await sink.write({ jobId: "j", body: '{"a":[1,2]}', format: "json", createdAt: created })).toEqual({ mode: "inline", output: { a: [1, 2] } });
        expect(await sink.write({ jobId: "j", body: '{"a":1}\n\n{"b":2}\n', format: "jsonl", createdAt: created })).toEqual({ mode: "inline", output: [{ a: 1 }, { b: 2 }] });
        await expect(sink.write({ jobId: "j", body: "{oops", format: "json", createdAt: created })).rejects.toThrow(/job j: output is not valid JSON/);
        expect(await sink.health()).toBe("ok");
    });

    it("base64 encodes the document's UTF-8 bytes", async () => {
        const body = '{"text":"привет ✓"}';
        const result = await new Base64Sink().write({ jobId: "j", body, format: "json", createdAt: created });
        expect(result.mode).toBe("base64");
        expect(Buffer.from(result.output as string, "base64").toString("utf8")).toBe(body);
    });
});

describe("parseObjectUri", () => {
    it("splits s3://, gs:// and https:// URIs and rejects others", () => {
        expect(parseObjectUri("s3://bucket/a/b.jsonl")).toMatchObject({ scheme: "s3", bucket: "bucket", key: "a/b.jsonl" });
        expect(parseObjectUri("gs://bucket/x.jsonl")).toMatchObject({ scheme: "gs", bucket: "bucket", key: "x.jsonl" });
        expect(parseObjectUri("https://example.com/x.jsonl")).toMatchObject({ scheme: "http" });
        expect(() => parseObjectUri("s3://bucket")).toThrow(/needs a bucket and an object name/);
        expect(() => parseObjectUri("gs://bucket/dir/")).toThrow(/names a folder/);
        expect(() => parseObjectUri("ftp://host/x")).toThrow(/unsupported scheme ftp:/);
        expect(() => parseObjectUri("nonsense")).toThrow(/not a URI/);
    });
});

describe("retryWithBackoff", () => {
    it("retries transient failures with doubling waits, then throws the last error", async () => {
        const starts: number[] = [];
        const error = await retryWithBackoff(
            async () => {
                starts.push(performance.now());
                throw new Error(`attempt ${starts.length}`);
            },
            { retries: 3, baseDelayMs: 20, isRetryable: () => true }
        ).catch((caught: unknown) => caught as Error);
        expect(error.message).toBe("attempt 4");
        const gaps = starts.slice(1).map((start, index) => start - starts[index]!);
        expect(gaps[0]).toBeGreaterThanOrEqual(18);
        expect(gaps[1]).toBeGreaterThanOrEqual(38);
        expect(gaps[2]).toBeGreaterThanOrEqual(78);
    });

    it("does not retry a permanent failure, and returns the first success", async () => {
        let calls = 0;
        await expect(
            retryWithBackoff(
                async () => {
                    calls++;
                    throw new Error("permanent");
                },
                { retries: 5, baseDelayMs: 1, isRetryable: () => false }
            )
        ).rejects.toThrow("permanent");
        expect(calls).toBe(1);
        let tries = 0;
        const value = await retryWithBackoff(async () => (++tries < 3 ? Promise.reject(new Error("flaky")) : "ok"), { retries: 5, baseDelayMs: 1, isRetryable: () => true });
        expect(value).toBe("ok");
        expect(tries).toBe(3);
    });

    it("stops waiting when aborted", async () => {
        const controller = new AbortController();
        const started = performance.now();
        setTimeout(() => controller.abort(new Error("stopped")), 30);
        await expect(
            retryWithBackoff(() => Promise.reject(new Error("again")), { retries: 5, baseDelayMs: 10_000, isRetryable: () => true, signal: controller.signal })
        ).rejects.toThrow("stopped");
        expect(performance.now() - started).toBeLessThan(5000);
    });
});
