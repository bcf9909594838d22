import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, type ServiceConfig } from "../../src/config/loadConfig.js";
import { createOutputSink } from "../../src/storage/createOutputSink.js";
import type { JobDocument } from "../../src/storage/OutputSink.js";
import { readObject } from "../../src/storage/readObject.js";
import { StorageConfigError } from "../../src/storage/StorageConfigError.js";
import { StorageError } from "../../src/storage/StorageError.js";
import { storageHealth } from "../../src/storage/storageHealth.js";
import { StorageHealthMonitor } from "../../src/storage/StorageHealthMonitor.js";
import { crc32cBase64, startFakeGcsServer, type FakeGcsServer } from "../helpers/fakeGcsServer.js";
import { startServer } from "../helpers/server.js";

const require = createRequire(import.meta.url);

interface S3rverInstance {
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
}
const S3rver = require("s3rver") as new (options: Record<string, unknown>) => S3rverInstance;
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const CREATED = new Date(Date.UTC(2025, 2, 7, 23, 59, 58));

function tempDir(prefix: string): string {
    return mkdtempSync(join(tmpdir(), prefix));
}

/** A config as the CLI would load it, from environment variables only (no file). */
function configFrom(env: Record<string, string>): ServiceConfig {
    return loadConfig({ cli: { dataDir: tempDir("mentator-storage-cfg-") }, env });
}

function jsonDocument(jobId: string, value: unknown): JobDocument {
    return { jobId, body: JSON.stringify(value), format: "json", createdAt: CREATED };
}

describe("s3 sink against s3rver", () => {
    let s3: S3rverInstance;
    let endpoint: string;
    let reader: S3Client;
    const credentials = { S3_ACCESS_KEY_ID: "S3RVER", S3_SECRET_ACCESS_KEY: "S3RVER" };

    beforeAll(async () => {
        s3 = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: tempDir("mentator-s3rver-"), configureBuckets: [{ name: "outputs" }] });
        const { port } = await s3.run();
        endpoint = `http://127.0.0.1:${port}`;
        reader = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
    });

    afterAll(async () => {
        reader?.destroy();
        await s3?.close();
    });

    async function fetchObject(key: string): Promise<{ text: string; contentType: string | undefined; metadata: Record<string, string> | undefined }> {
        const response = await reader.send(new GetObjectCommand({ Bucket: "outputs", Key: key }));
        return { text: await response.Body!.transformToString(), contentType: response.ContentType, metadata: response.Metadata };
    }

    it("uploads a JSON document under <prefix>/<yyyy>/<mm>/<dd>/<jobId>.json and the object holds exactly those bytes", async () => {
        const config = configFrom({ ...credentials, S3_ENDPOINT: endpoint, S3_BUCKET: "outputs", S3_PREFIX: "team/out/", S3_FORCE_PATH_STYLE: "true" });
        const value = { id: "chatcmpl-1", choices: [{ message: { role: "assistant", content: "héllo ✓" } }] };
        const result = await (await createOutputSink("s3", config)).write(jsonDocument("job-123", value));
        const body = JSON.stringify(value);
        expect(result).toEqual({ mode: "s3", output: { uri: "s3://outputs/team/out/2025/03/07/job-123.json", bytes: Buffer.byteLength(body), format: "json" } });
        const stored = await fetchObject("team/out/2025/03/07/job-123.json");
        expect(stored.text).toBe(body);
        expect(JSON.parse(stored.text)).toEqual(value);
        expect(stored.contentType).toBe("application/json");
        expect(stored.metadata?.["mentator-job-id"]).toBe("job-123");
    });

    it("accepts the CLOUDRU_S3_* aliases and writes JSONL batches as .jsonl", async () => {
        const config = configFrom({
            CLOUDRU_S3_ENDPOINT: endpoint,
            CLOUDRU_S3_BUCKET: "outputs",
            CLOUDRU_S3_ACCESS_KEY_ID: "S3RVER",
            CLOUDRU_S3_SECRET_ACCESS_KEY: "S3RVER",
            CLOUDRU_S3_FORCE_PATH_STYLE: "true"
        });
        const lines = `${JSON.stringify({ a: 1 })}\n${JSON.stringify({ b: 2 })}\n`;
        const result = await (await createOutputSink("s3", config)).write({ jobId: "batch/../7", body: lines, format: "jsonl", createdAt: CREATED });
        // The default prefix, and a job id that cannot add path levels.
        expect(result.output).toMatchObject({ uri: "s3://outputs/mentator/outputs/2025/03/07/batch_.._7.jsonl", format: "jsonl" });
        const stored = await fetchObject("mentator/outputs/2025/03/07/batch_.._7.jsonl");
        expect(stored.text).toBe(lines);
        expect(stored.contentType).toBe("application/x-ndjson");

        // readObject reads it back through the same settings (batch_url inputs).
        const read = await readObject("s3://outputs/mentator/outputs/2025/03/07/batch_.._7.jsonl", config);
        expect(read.toString("utf8")).toBe(lines);
        await expect(readObject("s3://outputs/nope.jsonl", config)).rejects.toThrow(/not found.*s3:\/\/outputs\/nope\.jsonl/);
        await expect(readObject("s3://outputs/mentator/outputs/2025/03/07/batch_.._7.jsonl", config, { maxBytes: 5 })).rejects.toThrow(/more than the 5-byte limit/);
    });

    it("reports health per sink: ok for a reachable bucket, error for a missing one, not_configured without a bucket", async () => {
        const good = configFrom({ ...credentials, S3_ENDPOINT: endpoint, S3_BUCKET: "outputs", S3_FORCE_PATH_STYLE: "true" });
        expect(await storageHealth(good)).toEqual({ s3: "ok", gcs: "not_configured" });
        const missing = configFrom({ ...credentials, S3_ENDPOINT: endpoint, S3_BUCKET: "no-such-bucket", S3_FORCE_PATH_STYLE: "true" });
        expect(await storageHealth(missing)).toEqual({ s3: "error", gcs: "not_configured" });
        expect(await storageHealth(configFrom({}))).toEqual({ s3: "not_configured", gcs: "not_configured" });

        const monitor = new StorageHealthMonitor(good);
        expect(monitor.current().s3).toBe("error"); // not checked yet: a configured bucket is not assumed to work
        await monitor.refresh();
        expect(monitor.current()).toEqual({ s3: "ok", gcs: "not_configured" });
    });

    it("fails with a message naming the bucket when it does not exist", async () => {
        const config = configFrom({ ...credentials, S3_ENDPOINT: endpoint, S3_BUCKET: "no-such-bucket", S3_FORCE_PATH_STYLE: "true" });
        const error = await (await createOutputSink("s3", config)).write(jsonDocument("j", {})).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(StorageError);
        expect((error as Error).message).toMatch(/bucket "no-such-bucket" does not exist; check S3_BUCKET/);
    });

    it("names the environment variable when the bucket or half of the key pair is missing", async () => {
        const noBucket = configFrom({ ...credentials, S3_ENDPOINT: endpoint });
        await expect(createOutputSink("s3", noBucket)).rejects.toThrow(StorageConfigError);
        await expect(createOutputSink("s3", noBucket)).rejects.toThrow(/set S3_BUCKET/);
        const halfKey = configFrom({ S3_ENDPOINT: endpoint, S3_BUCKET: "outputs", S3_ACCESS_KEY_ID: "S3RVER" });
        await expect(createOutputSink("s3", halfKey)).rejects.toThrow(/S3_SECRET_ACCESS_KEY is not/);
    });
});

describe("gcs sink against a fake GCS JSON API with the real @google-cloud/storage client", () => {
    let gcs: FakeGcsServer;
    let keyFile: string;
    let publicKey: string;
    const clientEmail = "mentator-test@example-project.iam.gserviceaccount.com";

    beforeAll(async () => {
        gcs = await startFakeGcsServer({ buckets: ["outputs"] });
        // A throwaway service account: signed URLs are signed locally with its key and verified by the fake.
        const pair = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
        publicKey = pair.publicKey;
        keyFile = join(tempDir("mentator-gcs-key-"), "service-account.json");
        writeFileSync(
            keyFile,
            JSON.stringify({
                type: "service_account",
                project_id: "example-project",
                private_key_id: "0123456789abcdef",
                private_key: pair.privateKey,
                client_email: clientEmail,
                client_id: "1234567890",
                token_uri: "http://127.0.0.1:9/token"
            })
        );
        gcs.setSigningKey(publicKey, clientEmail);
    });

    afterAll(async () => {
        await gcs?.close();
    });

    function gcsConfig(extra: Record<string, string> = {}): ServiceConfig {
        return configFrom({ GCS_ENDPOINT: gcs.url, GCS_BUCKET: "outputs", GCS_PROJECT: "example-project", GCS_RETRY_BASE_SLEEP: "0.05", ...extra });
    }

    function uploadsOf(name: string): Array<{ at: number }> {
        return gcs.requests.filter((request) => request.kind === "upload" && request.query.get("name") === name);
    }

    it("uploads through 503s and a connection reset with exponential backoff, and the object holds our bytes", async () => {
        gcs.failUploads("503", "reset", "503");
        const config = gcsConfig({ GCS_RETRIES: "3", GCS_PREFIX: "runs" });
        const value = { choices: [{ text: "ünïcode output" }] };
        const result = await (await createOutputSink("gcs", config)).write(jsonDocument("job-gcs-1", value));
        const key = "runs/2025/03/07/job-gcs-1.json";
        expect(result).toEqual({ mode: "gcs", output: { uri: `gs://outputs/${key}`, bytes: Buffer.byteLength(JSON.stringify(value)), format: "json" } });
        const stored = gcs.objects.get(`outputs/${key}`)!;
        expect(stored.data.toString("utf8")).toBe(JSON.stringify(value));
        expect(stored.contentType).toBe("application/json");
        expect(stored.metadata["mentator-job-id"]).toBe("job-gcs-1");
        const attempts = uploadsOf(key);
        expect(attempts).toHaveLength(4);
        // Waits of at least 50, 100 and 200 ms between the attempts.
        const gaps = attempts.slice(1).map((attempt, index) => attempt.at - attempts[index]!.at);
        expect(gaps[0]).toBeGreaterThanOrEqual(45);
        expect(gaps[1]).toBeGreaterThanOrEqual(95);
        expect(gaps[2]).toBeGreaterThanOrEqual(195);
    });

    it("gives up after GCS_RETRIES retries with a clear error, and does not retry a 403", async () => {
        gcs.failUploads("503", "503", "503", "503");
        const config = gcsConfig({ GCS_RETRIES: "2", GCS_PREFIX: "exhausted" });
        await expect((await createOutputSink("gcs", config)).write(jsonDocument("job-x", { a: 1 }))).rejects.toThrow(/upload failed after 3 attempts.*503/);
        expect(uploadsOf("exhausted/2025/03/07/job-x.json")).toHaveLength(3);
        gcs.clearFailures();

        const forbidden = gcsConfig({ GCS_RETRIES: "3", GCS_PREFIX: "forbidden" });
        gcs.failUploads("403");
        await expect((await createOutputSink("gcs", forbidden)).write(jsonDocument("job-y", {}))).rejects.toThrow(/access denied \(HTTP 403\); check GOOGLE_APPLICATION_CREDENTIALS/);
        expect(uploadsOf("forbidden/2025/03/07/job-y.json")).toHaveLength(1);
    });

    it("GCS_VALIDATE catches an object whose checksum differs from the bytes sent, and uploads again", async () => {
        gcs.failUploads("corrupt");
        const config = gcsConfig({ GCS_PREFIX: "validated" });
        await (await createOutputSink("gcs", config)).write(jsonDocument("job-v", { text: "checked" }));
        const key = "validated/2025/03/07/job-v.json";
        expect(uploadsOf(key)).toHaveLength(2);
        expect(gcs.objects.get(`outputs/${key}`)!.data.toString()).toBe(JSON.stringify({ text: "checked" }));

        // With validation off the corrupted object is accepted: the check above is what caught it.
        gcs.failUploads("corrupt");
        const unchecked = gcsConfig({ GCS_PREFIX: "unchecked", GCS_VALIDATE: "false" });
        await (await createOutputSink("gcs", unchecked)).write(jsonDocument("job-v", { text: "checked" }));
        expect(uploadsOf("unchecked/2025/03/07/job-v.json")).toHaveLength(1);
        expect(gcs.objects.get("outputs/unchecked/2025/03/07/job-v.json")!.data.toString()).not.toBe(JSON.stringify({ text: "checked" }));

        // The sink compares the fake's md5Hash and crc32c with its own; the fake's CRC32C is the standard one.
        expect(crc32cBase64(Buffer.from("123456789"))).toBe(Buffer.from([0xe3, 0x06, 0x92, 0x83]).toString("base64"));
    });

    it("GCS_PUBLIC uploads with the publicRead ACL and returns a public URL that serves the object", async () => {
        const config = gcsConfig({ GCS_PUBLIC: "true", GCS_PREFIX: "public" });
        const result = await (await createOutputSink("gcs", config)).write(jsonDocument("job-p", { ok: true }));
        const key = "public/2025/03/07/job-p.json";
        expect(result.output).toEqual({ uri: `gs://outputs/${key}`, url: `${gcs.url}/outputs/${key}`, bytes: 11, format: "json" });
        expect(uploadsOf(key).length).toBe(1);
        const upload = gcs.requests.find((request) => request.kind === "upload" && request.query.get("name") === key)!;
        expect(upload.query.get("predefinedAcl")).toBe("publicRead");
        const response = await fetch((result.output as { url: string }).url);
        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({ ok: true });
        // A private object is not served without a signature.
        await (await createOutputSink("gcs", gcsConfig({ GCS_PREFIX: "private" }))).write(jsonDocument("job-q", {}));
        expect((await fetch(`${gcs.url}/outputs/private/2025/03/07/job-q.json`)).status).toBe(403);
    });

    it("returns a V4 signed read URL when GCS_SIGNED_URL_TTL > 0; the fake verifies its signature with the key's public half", async () => {
        const config = gcsConfig({ GCS_SIGNED_URL_TTL: "600", GCS_PREFIX: "signed", GOOGLE_APPLICATION_CREDENTIALS: keyFile });
        const result = await (await createOutputSink("gcs", config)).write(jsonDocument("job-s", { signed: "yes" }));
        const output = result.output as { uri: string; url: string };
        expect(output.uri).toBe("gs://outputs/signed/2025/03/07/job-s.json");
        const signed = new URL(output.url);
        expect(signed.origin).toBe(gcs.url);
        expect(signed.pathname).toBe("/outputs/signed/2025/03/07/job-s.json");
        expect(signed.searchParams.get("X-Goog-Algorithm")).toBe("GOOG4-RSA-SHA256");
        expect(signed.searchParams.get("X-Goog-Expires")).toBe("600");
        expect(signed.searchParams.get("X-Goog-Credential")).toMatch(new RegExp(`^${clientEmail}/\\d{8}/auto/storage/goog4_request$`));
        const response = await fetch(output.url);
        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({ signed: "yes" });

        // Tampering with the expiry or the object breaks the signature.
        const longer = new URL(output.url);
        longer.searchParams.set("X-Goog-Expires", "6000");
        expect((await fetch(longer)).status).toBe(403);
        const other = new URL(output.url);
        other.pathname = "/outputs/public/2025/03/07/job-p.json";
        const otherResponse = await fetch(other);
        expect(otherResponse.status).toBe(403);
        expect(await otherResponse.text()).toMatch(/SignatureDoesNotMatch/);
    });

    it("reads gs:// objects (batch inputs) through a 503, and reports health", async () => {
        const config = gcsConfig({ GCS_PREFIX: "inputs" });
        await (await createOutputSink("gcs", config)).write({ jobId: "in", body: '{"x":1}\n{"x":2}\n', format: "jsonl", createdAt: CREATED });
        gcs.failAny("503");
        const text = (await readObject("gs://outputs/inputs/2025/03/07/in.jsonl", config)).toString("utf8");
        expect(text).toBe('{"x":1}\n{"x":2}\n');
        await expect(readObject("gs://outputs/inputs/missing.jsonl", config)).rejects.toThrow(/not found \(HTTP 404\)/);

        expect(await storageHealth(config)).toEqual({ s3: "not_configured", gcs: "ok" });
        expect(await storageHealth(gcsConfig({ GCS_BUCKET: "no-such-bucket" }))).toEqual({ s3: "not_configured", gcs: "error" });
    });

    it("names the environment variable for a missing bucket, an unreadable key file and a TTL over seven days", async () => {
        await expect(createOutputSink("gcs", configFrom({ GCS_ENDPOINT: gcs.url }))).rejects.toThrow(/set GCS_BUCKET/);
        await expect(createOutputSink("gcs", gcsConfig({ GOOGLE_APPLICATION_CREDENTIALS: "/nonexistent/key.json" }))).rejects.toThrow(
            /GOOGLE_APPLICATION_CREDENTIALS .*\/nonexistent\/key\.json.*cannot be read/
        );
        await expect(createOutputSink("gcs", gcsConfig({ GCS_SIGNED_URL_TTL: String(8 * 24 * 3600) }))).rejects.toThrow(/GCS_SIGNED_URL_TTL .*at most 604800/);
        const error = await createOutputSink("gcs", configFrom({})).then(
            () => undefined,
            (caught: unknown) => caught
        );
        expect(error).toBeInstanceOf(StorageConfigError);
        expect((error as StorageConfigError).variable).toBe("GCS_BUCKET");
    });
});

describe("GET /health reports the configured object stores", () => {
    it("shows s3 and gcs as ok when their buckets answer, error when a bucket is missing, not_configured otherwise", async () => {
        const s3 = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: tempDir("mentator-s3rver-health-"), configureBuckets: [{ name: "outputs" }] });
        const { port } = await s3.run();
        const gcs = await startFakeGcsServer({ buckets: ["outputs"] });
        const s3Env = { S3_ENDPOINT: `http://127.0.0.1:${port}`, S3_ACCESS_KEY_ID: "S3RVER", S3_SECRET_ACCESS_KEY: "S3RVER", S3_FORCE_PATH_STYLE: "true" };
        try {
            const both = await startServer({ env: { ...s3Env, S3_BUCKET: "outputs", GCS_ENDPOINT: gcs.url, GCS_BUCKET: "outputs" } });
            try {
                const report = (await (await fetch(`${both.url}/health`)).json()) as { storage: unknown };
                expect(report.storage).toEqual({ s3: "ok", gcs: "ok" });
            } finally {
                await both.stop();
            }
            const broken = await startServer({ env: { ...s3Env, S3_BUCKET: "missing-bucket" } });
            try {
                const report = (await (await fetch(`${broken.url}/health`)).json()) as { storage: unknown };
                expect(report.storage).toEqual({ s3: "error", gcs: "not_configured" });
            } finally {
                await broken.stop();
            }
        } finally {
            await gcs.close();
            await s3.close();
        }
    }, 120_000);
});
