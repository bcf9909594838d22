import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { join } from "node:path";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downloadModelFile } from "../../src/models/download/downloadModelFile.js";
import type { DownloadEvent } from "../../src/models/download/DownloadEvent.js";
import { HttpSource } from "../../src/models/download/HttpSource.js";
import { ChecksumMismatchError } from "../../src/models/download/ChecksumMismatchError.js";
import { DownloadError } from "../../src/models/download/DownloadError.js";
import { randomBytesSeeded, sha256Hex, startModelHttpServer, type ModelHttpServer } from "../helpers/modelHttpServer.js";
import { makeTinyModel } from "../helpers/models.js";
import { runCli, tempDataDir } from "../helpers/server.js";

const require = createRequire(import.meta.url);

interface S3rverInstance {
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
}
const S3rver = require("s3rver") as new (options: Record<string, unknown>) => S3rverInstance;
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

let http: ModelHttpServer;

beforeAll(async () => {
    http = await startModelHttpServer();
});

afterAll(async () => {
    await http.close();
});

function source(path: string): HttpSource {
    return new HttpSource({ uri: `${http.url}${path}`, url: `${http.url}${path}`, fileName: path.split("/").pop() });
}

function rangeRequests(path: string): string[] {
    return http.requests.filter((request) => request.url === path && request.range !== undefined).map((request) => request.range!);
}

/** NDJSON lines a `--json` (or non-TTY) pull printed. */
function ndjson(stdout: string): Array<Record<string, unknown>> {
    return stdout
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("model downloads", () => {
    it("resumes a download cut off half-way with a Range request and ends with the right sha256", async () => {
        const body = randomBytesSeeded(3 * 1024 * 1024 + 123, 11);
        http.files.set("/cut/model.gguf", { body, cutAfterBytes: Math.floor(body.length / 2), cutRequests: 1 });
        const dir = tempDataDir();
        const events: DownloadEvent[] = [];
        const result = await downloadModelFile(source("/cut/model.gguf"), {
            target: join(dir, "model.gguf"),
            onEvent: (event) => events.push(event),
            retryBaseDelayMs: 10
        });
        expect(result.sha256).toBe(sha256Hex(body));
        expect(result.size).toBe(body.length);
        expect(result.attempts).toBe(2);
        expect(sha256Hex(readFileSync(join(dir, "model.gguf")))).toBe(sha256Hex(body));
        const ranges = rangeRequests("/cut/model.gguf");
        expect(ranges).toHaveLength(1);
        const resumedAt = Number(/bytes=(\d+)-/.exec(ranges[0]!)![1]);
        expect(resumedAt).toBeGreaterThan(0);
        expect(resumedAt).toBeLessThanOrEqual(Math.floor(body.length / 2));
        expect(events.some((event) => event.type === "retry")).toBe(true);
        expect(events.at(-1)).toMatchObject({ type: "done", status: "downloaded", sha256: sha256Hex(body) });
        expect(readdirSync(dir)).toEqual(["model.gguf"]);
    });

    it("resumes across processes: a failed CLI pull leaves a partial file that the next pull continues", async () => {
        const body = randomBytesSeeded(2 * 1024 * 1024 + 7, 12);
        http.files.set("/resume/qwen-test.gguf", { body, cutAfterBytes: 1024 * 1024, cutRequests: 1 });
        const dataDir = tempDataDir();
        const url = `${http.url}/resume/qwen-test.gguf`;
        const first = await runCli(["models", "pull", url, "--retries", "0", "--data-dir", dataDir]);
        expect(first.code).toBe(1);
        expect(first.stderr).toContain(url);
        const partial = join(dataDir, "models", "qwen-test.gguf.partial");
        expect(existsSync(partial)).toBe(true);
        expect(statSync(partial).size).toBeGreaterThan(0);
        expect(existsSync(join(dataDir, "models", "qwen-test.gguf"))).toBe(false);

        const second = await runCli(["models", "pull", url, "--data-dir", dataDir]);
        expect(second.stderr).toBe("");
        expect(second.code).toBe(0);
        const lines = ndjson(second.stdout);
        expect(lines[0]).toMatchObject({ type: "start", total: body.length });
        expect(Number(lines[0]!.resumedFrom)).toBeGreaterThan(0);
        expect(lines.at(-1)).toMatchObject({ type: "result", id: "qwen-test", sha256: sha256Hex(body), size: body.length, status: "downloaded" });
        expect(rangeRequests("/resume/qwen-test.gguf")).toEqual([`bytes=${String(lines[0]!.resumedFrom)}-`]);
        expect(readdirSync(join(dataDir, "models"))).toEqual(["qwen-test.gguf"]);

        // Pulling again finds the same bytes and keeps them.
        const again = await runCli(["models", "pull", url, "--data-dir", dataDir]);
        expect(again.code).toBe(0);
        expect(ndjson(again.stdout).at(-1)).toMatchObject({ type: "result", status: "present" });
    });

    it("restarts instead of resuming when the partial file came from another URL", async () => {
        const body = randomBytesSeeded(300_000, 13);
        http.files.set("/other/m.gguf", { body });
        const dir = tempDataDir();
        writeFileSync(join(dir, "m.gguf.partial"), randomBytesSeeded(100_000, 99));
        writeFileSync(join(dir, "m.gguf.partial.json"), JSON.stringify({ uri: "https://example.invalid/m.gguf", location: "https://example.invalid/m.gguf" }));
        const events: DownloadEvent[] = [];
        const result = await downloadModelFile(source("/other/m.gguf"), { target: join(dir, "m.gguf"), onEvent: (event) => events.push(event) });
        expect(result.sha256).toBe(sha256Hex(body));
        expect(result.resumedFrom).toBe(0);
        expect(events.some((event) => event.type === "restart")).toBe(true);
        expect(rangeRequests("/other/m.gguf")).toEqual([]);
    });

    it("starts over when a server ignores Range after a cut", async () => {
        const body = randomBytesSeeded(1024 * 1024, 25);
        http.files.set("/norange/m.gguf", { body, cutAfterBytes: 400_000, cutRequests: 1, ignoreRange: true });
        const dir = tempDataDir();
        const events: DownloadEvent[] = [];
        const result = await downloadModelFile(source("/norange/m.gguf"), { target: join(dir, "m.gguf"), retryBaseDelayMs: 10, onEvent: (event) => events.push(event) });
        expect(result).toMatchObject({ sha256: sha256Hex(body), size: body.length, resumedFrom: 0, attempts: 2 });
        expect(events.filter((event) => event.type === "restart")).toHaveLength(1);
        expect(rangeRequests("/norange/m.gguf")).toHaveLength(1);
    });

    it("refuses wrong bytes and removes the temp file", async () => {
        const body = randomBytesSeeded(500_000, 14);
        const corrupt = Buffer.from(body);
        corrupt[1234] = corrupt[1234]! ^ 0xff;
        http.files.set("/bad/wrong.gguf", { body, corruptBody: corrupt });
        const dataDir = tempDataDir();
        const result = await runCli(["models", "pull", `${http.url}/bad/wrong.gguf`, "--sha256", sha256Hex(body), "--data-dir", dataDir]);
        expect(result.code).toBe(1);
        expect(result.stderr).toContain("sha256 mismatch for wrong.gguf");
        expect(result.stderr).toContain(`expected ${sha256Hex(body)}, actual ${sha256Hex(corrupt)}`);
        expect(readdirSync(join(dataDir, "models"))).toEqual([]);

        // In process: the same with the error class.
        const dir = tempDataDir();
        await expect(downloadModelFile(source("/bad/wrong.gguf"), { target: join(dir, "wrong.gguf"), expectedSha256: sha256Hex(body) })).rejects.toBeInstanceOf(ChecksumMismatchError);
        expect(readdirSync(dir)).toEqual([]);
    });

    it("checks the sha256 a Hugging Face endpoint advertises (hf: URI, HF_ENDPOINT, HF_TOKEN)", async () => {
        const body = randomBytesSeeded(400_000, 15);
        const corrupt = Buffer.from(body);
        corrupt[10] = corrupt[10]! ^ 1;
        // Like huggingface.co: resolve answers 302 with the LFS digest; the CDN serves the bytes.
        http.files.set("/acme/tiny-GGUF/resolve/main/tiny-q8_0.gguf", {
            body,
            redirectTo: "/cdn/tiny-q8_0.gguf",
            headers: { "x-linked-etag": `"${sha256Hex(body)}"`, "x-linked-size": String(body.length) }
        });
        http.files.set("/cdn/tiny-q8_0.gguf", { body, corruptBody: corrupt });
        const dataDir = tempDataDir();
        const env = { HF_ENDPOINT: http.url, HF_TOKEN: "hf_secret" };
        const bad = await runCli(["models", "pull", "hf:acme/tiny-GGUF/tiny-q8_0.gguf", "--data-dir", dataDir], { env });
        expect(bad.code).toBe(1);
        expect(bad.stderr).toContain("sha256 mismatch for tiny-q8_0.gguf");
        expect(readdirSync(join(dataDir, "models"))).toEqual([]);
        expect(http.requests.find((request) => request.url === "/acme/tiny-GGUF/resolve/main/tiny-q8_0.gguf")?.authorization).toBe("Bearer hf_secret");

        http.files.set("/cdn/tiny-q8_0.gguf", { body });
        const good = await runCli(["models", "pull", "hf:acme/tiny-GGUF/tiny-q8_0.gguf", "--json", "--data-dir", dataDir], { env });
        expect(good.code).toBe(0);
        expect(ndjson(good.stdout)[0]).toMatchObject({ type: "start", expectedSha256: sha256Hex(body) });
        expect(ndjson(good.stdout).at(-1)).toMatchObject({ type: "result", id: "tiny-q8_0", sha256: sha256Hex(body), source: "hf:acme/tiny-GGUF/tiny-q8_0.gguf" });
    });

    it("resolves hf:owner/repo:QUANT from the repository's file list", async () => {
        const body = randomBytesSeeded(200_000, 16);
        http.json.set("/api/models/acme/multi-GGUF/tree/main", [
            { type: "file", path: "README.md", size: 10 },
            { type: "file", path: "multi-q4_k_m.gguf", size: 999, lfs: { oid: "0".repeat(64), size: 999 } },
            { type: "file", path: "multi-q8_0.gguf", size: body.length, lfs: { oid: sha256Hex(body), size: body.length } },
            { type: "file", path: "big/multi-f16-00001-of-00002.gguf", size: 5 }
        ]);
        http.files.set("/acme/multi-GGUF/resolve/main/multi-q8_0.gguf", { body });
        const dataDir = tempDataDir();
        const env = { HF_ENDPOINT: http.url };
        const result = await runCli(["models", "pull", "hf:acme/multi-GGUF:Q8_0", "--data-dir", dataDir], { env });
        expect(result.stderr).toBe("");
        expect(ndjson(result.stdout).at(-1)).toMatchObject({ type: "result", file: "multi-q8_0.gguf", sha256: sha256Hex(body) });

        const split = await runCli(["models", "pull", "hf:acme/multi-GGUF:F16", "--data-dir", dataDir], { env });
        expect(split.code).toBe(2);
        expect(split.stderr).toContain("only split GGUF files");
        const none = await runCli(["models", "pull", "hf:acme/multi-GGUF:IQ2_XS", "--data-dir", dataDir], { env });
        expect(none.code).toBe(2);
        expect(none.stderr).toContain('no .gguf file matches "IQ2_XS"');
    });

    it("gives a clear error naming the URL on 404 and 403", async () => {
        const dataDir = tempDataDir();
        const missing = `${http.url}/nothing/here.gguf`;
        const notFound = await runCli(["models", "pull", missing, "--data-dir", dataDir]);
        expect(notFound.code).toBe(1);
        expect(notFound.stderr).toContain(`not found (HTTP 404) (${missing})`);
        http.files.set("/private/secret.gguf", { body: Buffer.alloc(1), status: 403 });
        const denied = await runCli(["models", "pull", `${http.url}/private/secret.gguf`, "--data-dir", dataDir]);
        expect(denied.code).toBe(1);
        expect(denied.stderr).toContain("access denied (HTTP 403)");
        expect(readdirSync(join(dataDir, "models"))).toEqual([]);
    });

    it("retries 5xx with backoff and gives up with the last error", async () => {
        http.files.set("/flaky/err.gguf", { body: Buffer.alloc(1), status: 503 });
        const dir = tempDataDir();
        const events: DownloadEvent[] = [];
        const error = await downloadModelFile(source("/flaky/err.gguf"), {
            target: join(dir, "err.gguf"),
            maxAttempts: 3,
            retryBaseDelayMs: 20,
            onEvent: (event) => events.push(event)
        }).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(DownloadError);
        expect((error as Error).message).toContain("giving up after 3 failed attempts in a row: HTTP 503");
        const delays = events.filter((event) => event.type === "retry").map((event) => (event as { delayMs: number }).delayMs);
        expect(delays).toHaveLength(2);
        expect(delays[1]!).toBeGreaterThan(delays[0]!);
    });

    it("never overwrites a different file without --force", async () => {
        const body = randomBytesSeeded(100_000, 17);
        http.files.set("/exists/keep.gguf", { body });
        const dataDir = tempDataDir();
        mkdirSync(join(dataDir, "models"), { recursive: true });
        writeFileSync(join(dataDir, "models", "keep.gguf"), "user's own bytes");
        const refused = await runCli(["models", "pull", `${http.url}/exists/keep.gguf`, "--data-dir", dataDir]);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain("already exists and differs in size");
        expect(refused.stderr).toContain("--force");
        expect(readFileSync(join(dataDir, "models", "keep.gguf"), "utf8")).toBe("user's own bytes");
        const forced = await runCli(["models", "pull", `${http.url}/exists/keep.gguf`, "--force", "--data-dir", dataDir]);
        expect(forced.code).toBe(0);
        expect(sha256Hex(readFileSync(join(dataDir, "models", "keep.gguf")))).toBe(sha256Hex(body));
    });

    it("refuses targets that would leave the models directory", async () => {
        const body = randomBytesSeeded(1000, 18);
        http.files.set("/x/..%2F..%2Fevil.gguf", { body });
        const dataDir = tempDataDir();
        const byName = await runCli(["models", "pull", `${http.url}/x/fine.gguf`, "--name", "../evil", "--data-dir", dataDir]);
        expect(byName.code).toBe(2);
        expect(byName.stderr).toContain('invalid model id "../evil"');
        const byUrl = await runCli(["models", "pull", `${http.url}/x/..%2F..%2Fevil.gguf`, "--data-dir", dataDir]);
        expect(byUrl.code).toBe(2);
        expect(byUrl.stderr).toContain("contains a path separator");
        const hidden = await runCli(["models", "pull", `${http.url}/x/.hidden.gguf`, "--data-dir", dataDir]);
        expect(hidden.code).toBe(2);
        expect(existsSync(join(dataDir, "evil.gguf"))).toBe(false);
        expect(existsSync(join(dataDir, "..", "evil.gguf"))).toBe(false);
        const scheme = await runCli(["models", "pull", "ftp://example.com/x.gguf", "--data-dir", dataDir]);
        expect(scheme.code).toBe(2);
        expect(scheme.stderr).toContain("unsupported scheme");
    });

    it("pulls s3://bucket/key from an S3-compatible server (s3rver) and resumes there too", async () => {
        const s3Dir = tempDataDir("mentator-s3rver-");
        const s3 = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: s3Dir, configureBuckets: [{ name: "models" }] });
        const { port } = await s3.run();
        try {
            const endpoint = `http://127.0.0.1:${port}`;
            const body = randomBytesSeeded(1024 * 1024 + 5, 19);
            const client = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
            await client.send(new PutObjectCommand({ Bucket: "models", Key: "team/s3-model.gguf", Body: body }));
            const dataDir = tempDataDir();
            const env = { S3_ENDPOINT: endpoint, S3_ACCESS_KEY_ID: "S3RVER", S3_SECRET_ACCESS_KEY: "S3RVER", S3_FORCE_PATH_STYLE: "true" };
            // A partial download from the same source: only the rest is fetched.
            mkdirSync(join(dataDir, "models"), { recursive: true });
            writeFileSync(join(dataDir, "models", "s3-model.gguf.partial"), body.subarray(0, 400_000));
            writeFileSync(join(dataDir, "models", "s3-model.gguf.partial.json"), JSON.stringify({ uri: "s3://models/team/s3-model.gguf", location: "s3://models/team/s3-model.gguf" }));
            const result = await runCli(["models", "pull", "s3://models/team/s3-model.gguf", "--data-dir", dataDir], { env });
            expect(result.stderr).toBe("");
            expect(result.code).toBe(0);
            const lines = ndjson(result.stdout);
            expect(lines[0]).toMatchObject({ type: "start", resumedFrom: 400_000, total: body.length });
            expect(lines.at(-1)).toMatchObject({ type: "result", id: "s3-model", sha256: sha256Hex(body), source: "s3://models/team/s3-model.gguf" });
            expect(sha256Hex(readFileSync(join(dataDir, "models", "s3-model.gguf")))).toBe(sha256Hex(body));

            const missing = await runCli(["models", "pull", "s3://models/team/nope.gguf", "--data-dir", dataDir], { env });
            expect(missing.code).toBe(1);
            expect(missing.stderr).toContain("not found");
            expect(missing.stderr).toContain("s3://models/team/nope.gguf");
            client.destroy();
        } finally {
            await s3.close();
        }
    });
});

/** The two calls @google-cloud/storage makes for a download: object metadata, then media (with Range). */
async function startFakeGcs(objects: Map<string, { body: Buffer; sha256?: string }>): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
    const requests: string[] = [];
    const server = createServer((request, response) => {
        const url = new URL(request.url ?? "/", "http://x");
        requests.push(`${request.method ?? ""} ${url.pathname}${url.search} ${request.headers.range ?? ""}`.trim());
        const match = /^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(url.pathname);
        const object = match !== null ? objects.get(`${match[1]!}/${decodeURIComponent(match[2]!)}`) : undefined;
        if (match === null || object === undefined) {
            response.writeHead(404, { "content-type": "application/json" });
            response.end(JSON.stringify({ error: { code: 404, message: "No such object", errors: [{ message: "No such object", reason: "notFound" }] } }));
            return;
        }
        if (url.searchParams.get("alt") !== "media") {
            response.writeHead(200, { "content-type": "application/json" });
            response.end(JSON.stringify({ bucket: match[1], name: decodeURIComponent(match[2]!), size: String(object.body.length), generation: "1700000000000001", metadata: object.sha256 !== undefined ? { sha256: object.sha256 } : {} }));
            return;
        }
        const range = /^bytes=(\d+)-/.exec(request.headers.range ?? "");
        const start = range !== null ? Number(range[1]) : 0;
        response.writeHead(range !== null ? 206 : 200, {
            "content-length": String(object.body.length - start),
            ...(range !== null ? { "content-range": `bytes ${start}-${object.body.length - 1}/${object.body.length}` } : {})
        });
        response.end(object.body.subarray(start));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        requests,
        close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); })
    };
}

describe("gs:// sources", () => {
    it("pulls gs://bucket/key through @google-cloud/storage against GCS_ENDPOINT, checking an advertised sha256", async () => {
        const body = randomBytesSeeded(700_000, 24);
        const corrupt = Buffer.from(body);
        corrupt[5] = corrupt[5]! ^ 0x80;
        const objects = new Map([
            ["bkt/dir/gcs-model.gguf", { body }],
            ["bkt/liar.gguf", { body: corrupt, sha256: sha256Hex(body) }]
        ]);
        const gcs = await startFakeGcs(objects);
        try {
            const dataDir = tempDataDir();
            const env = { GCS_ENDPOINT: gcs.url, GOOGLE_CLOUD_PROJECT: "test" };
            const good = await runCli(["models", "pull", "gs://bkt/dir/gcs-model.gguf", "--data-dir", dataDir], { env });
            expect(good.stderr).toBe("");
            expect(ndjson(good.stdout).at(-1)).toMatchObject({ type: "result", id: "gcs-model", sha256: sha256Hex(body), source: "gs://bkt/dir/gcs-model.gguf" });
            expect(gcs.requests.some((line) => line.includes("alt=media") && line.includes("generation=1700000000000001"))).toBe(true);
            const liar = await runCli(["models", "pull", "gs://bkt/liar.gguf", "--data-dir", dataDir], { env });
            expect(liar.code).toBe(1);
            expect(liar.stderr).toContain("sha256 mismatch for liar.gguf");
            const missing = await runCli(["models", "pull", "gs://bkt/none.gguf", "--data-dir", dataDir], { env });
            expect(missing.code).toBe(1);
            expect(missing.stderr).toContain("not found (HTTP 404) (gs://bkt/none.gguf)");
            expect(readdirSync(join(dataDir, "models"))).toEqual(["gcs-model.gguf"]);
        } finally {
            await gcs.close();
        }
    });
});

describe("model lock", () => {
    it("locks the models present, verifies them (then from the cache), and names a file whose byte flipped", async () => {
        const dataDir = tempDataDir();
        const models = join(dataDir, "models");
        await makeTinyModel(models, "tiny");
        const pulledBody = randomBytesSeeded(250_000, 21);
        http.files.set("/lock/pulled.gguf", { body: pulledBody });
        const pulledUrl = `${http.url}/lock/pulled.gguf`;
        expect((await runCli(["models", "pull", pulledUrl, "--data-dir", dataDir])).code).toBe(0);

        const locked = await runCli(["models", "lock", "--data-dir", dataDir]);
        expect(locked.code).toBe(0);
        expect(locked.stdout).toContain(`wrote ${join(models, "mentator.lock.json")} (2 models)`);
        const lock = JSON.parse(readFileSync(join(models, "mentator.lock.json"), "utf8")) as {
            engine: Record<string, string>;
            models: Array<{ id: string; file: string; sha256: string; size: number; source?: string }>;
        };
        expect(lock.engine["node-llama-cpp"]).toBe("3.21.1");
        expect(lock.models).toEqual([
            { id: "pulled", file: "pulled.gguf", sha256: sha256Hex(pulledBody), size: pulledBody.length, source: pulledUrl },
            { id: "tiny", file: "tiny.gguf", sha256: sha256Hex(readFileSync(join(models, "tiny.gguf"))), size: statSync(join(models, "tiny.gguf")).size }
        ]);

        const first = await runCli(["models", "verify", "--data-dir", dataDir]);
        expect(first.code).toBe(0);
        expect(first.stdout).toMatch(/^ok\s+pulled\.gguf: ok/m);
        expect(first.stdout).toContain("verified: 2 models");
        const second = await runCli(["models", "verify", "--data-dir", dataDir]);
        expect(second.code).toBe(0);
        expect(second.stdout).toContain("lock and files unchanged since the last verification");
        expect(second.stderr).not.toContain("hashing");

        // Same size, one byte different: the cache must not hide it.
        const tinyPath = join(models, "tiny.gguf");
        const bytes = readFileSync(tinyPath);
        bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0x01;
        writeFileSync(tinyPath, bytes);
        const flipped = await runCli(["models", "verify", "--data-dir", dataDir]);
        expect(flipped.code).toBe(1);
        const expectedTiny = lock.models[1]!.sha256;
        expect(flipped.stdout).toContain(`MISMATCH tiny.gguf: sha256 mismatch: expected ${expectedTiny}, actual ${sha256Hex(bytes)}`);
        expect(flipped.stdout).toMatch(/^ok\s+pulled\.gguf: ok \(cached hash\)/m);
        expect(flipped.stdout).toContain("FAILED (1 problem)");
        const json = JSON.parse((await runCli(["models", "verify", "--json", "--data-dir", dataDir])).stdout) as { ok: boolean; models: Array<{ file: string; status: string; actualSha256: string }> };
        expect(json.ok).toBe(false);
        expect(json.models.find((model) => model.file === "tiny.gguf")).toMatchObject({ status: "sha256_mismatch", actualSha256: sha256Hex(bytes) });
    });

    it("fetches missing models from their source with --fetch, and --strict fails on unlisted files", async () => {
        const dataDir = tempDataDir();
        const models = join(dataDir, "models");
        const body = randomBytesSeeded(180_000, 22);
        http.files.set("/fetch/remote.gguf", { body });
        mkdirSync(models, { recursive: true });
        writeFileSync(
            join(models, "mentator.lock.json"),
            JSON.stringify({ models: [{ id: "remote", file: "remote.gguf", sha256: sha256Hex(body), size: body.length, source: `${http.url}/fetch/remote.gguf` }] })
        );
        const missing = await runCli(["models", "verify", "--data-dir", dataDir]);
        expect(missing.code).toBe(1);
        expect(missing.stdout).toContain("MISSING  remote.gguf: missing (verify --fetch downloads it)");
        const fetched = await runCli(["models", "verify", "--fetch", "--data-dir", dataDir]);
        expect(fetched.code).toBe(0);
        expect(fetched.stdout).toContain(`fetched  remote.gguf: fetched from ${http.url}/fetch/remote.gguf`);
        expect(sha256Hex(readFileSync(join(models, "remote.gguf")))).toBe(sha256Hex(body));

        await makeTinyModel(models, "stray");
        expect((await runCli(["models", "verify", "--data-dir", dataDir])).code).toBe(0);
        const strict = await runCli(["models", "verify", "--strict", "--data-dir", dataDir]);
        expect(strict.code).toBe(1);
        expect(strict.stdout).toContain("UNLOCKED stray.gguf: present in the models directory but not in the lock");

        // A locked source with other bytes is refused and nothing is left behind.
        http.files.set("/fetch/remote.gguf", { body: randomBytesSeeded(body.length, 23) });
        const removed = await runCli(["models", "rm", "remote", "--data-dir", dataDir]);
        expect(removed.code).toBe(0);
        expect(removed.stdout).toContain(`deleted remote (${join(models, "remote.gguf")})`);
        expect(removed.stderr).toContain("still lists remote.gguf");
        const tampered = await runCli(["models", "verify", "--fetch", "--data-dir", dataDir]);
        expect(tampered.code).toBe(1);
        expect(tampered.stdout).toContain("FAILED   remote.gguf: fetch from");
        expect(tampered.stdout).toContain("sha256 mismatch for remote.gguf");
        expect(readdirSync(models).sort()).toEqual(["mentator.lock.json", "stray.gguf"]);
    });

    it("reports bad lock files and entries that escape the models directory", async () => {
        const dataDir = tempDataDir();
        const models = join(dataDir, "models");
        mkdirSync(models, { recursive: true });
        const lockPath = join(dataDir, "custom.lock.json");
        writeFileSync(lockPath, "{ not json");
        const broken = await runCli(["models", "verify", "--lock", lockPath, "--data-dir", dataDir]);
        expect(broken.code).toBe(2);
        expect(broken.stderr).toContain(`${lockPath}: invalid JSON`);
        writeFileSync(lockPath, JSON.stringify({ models: [{ id: "x", file: "x.gguf", sha256: "abc", size: 1 }] }));
        const schema = await runCli(["models", "verify", "--data-dir", dataDir], { env: { LOCK_PATH: lockPath } });
        expect(schema.code).toBe(2);
        expect(schema.stderr).toContain("models.0.sha256: expected 64 hex digits");
        writeFileSync(lockPath, JSON.stringify({ models: [{ id: "evil", file: "../evil.gguf", sha256: "a".repeat(64), size: 1 }] }));
        const escape = await runCli(["models", "verify", "--lock", lockPath, "--data-dir", dataDir]);
        expect(escape.code).toBe(1);
        expect(escape.stdout).toContain("INVALID  ../evil.gguf: invalid model id \"../evil.gguf\": resolves outside the models directory");
        const absent = await runCli(["models", "verify", "--data-dir", dataDir]);
        expect(absent.code).toBe(2);
        expect(absent.stderr).toContain("lock file not found");
        const rmMissing = await runCli(["models", "rm", "nope", "--data-dir", dataDir]);
        expect(rmMissing.code).toBe(1);
        expect(rmMissing.stderr).toContain('model "nope" not found');
        const rmEvil = await runCli(["models", "rm", "../x", "--data-dir", dataDir]);
        expect(rmEvil.code).toBe(2);
    });
});
