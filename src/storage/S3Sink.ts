import { createHash } from "node:crypto";
import { HeadBucketCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { buildObjectKey, documentContentType } from "./buildObjectKey.js";
import { describeS3Error } from "./describeS3Error.js";
import type { JobDocument, OutputSink, SinkHealth, SinkResult } from "./OutputSink.js";

export interface S3SinkOptions {
    client: S3Client;
    bucket: string;
    /** Key prefix (S3_PREFIX); objects go to `<prefix>/<yyyy>/<mm>/<dd>/<jobId>.<json|jsonl>`. */
    prefix: string;
    /** How long `health()` waits for the bucket to answer. Defaults to 5000 ms. */
    healthTimeoutMs?: number;
}

/** `s3`: uploads the document to an S3-compatible bucket; the SDK retries transient failures itself. */
export class S3Sink implements OutputSink {
    public readonly mode = "s3" as const;
    private readonly options: S3SinkOptions;

    public constructor(options: S3SinkOptions) {
        this.options = options;
    }

    public async write(document: JobDocument, signal?: AbortSignal): Promise<SinkResult> {
        const { client, bucket, prefix } = this.options;
        const key = buildObjectKey(prefix, document);
        const uri = `s3://${bucket}/${key}`;
        const body = Buffer.from(document.body, "utf8");
        try {
            await client.send(
                new PutObjectCommand({
                    Bucket: bucket,
                    Key: key,
                    Body: body,
                    ContentLength: body.length,
                    ContentType: documentContentType(document.format),
                    // The store rejects the upload if the bytes it received differ from ours.
                    ContentMD5: createHash("md5").update(body).digest("base64"),
                    Metadata: { "mentator-job-id": document.jobId }
                }),
                { abortSignal: signal }
            );
        } catch (error) {
            if (signal?.aborted === true) throw signal.reason ?? error;
            throw describeS3Error(uri, bucket, error);
        }
        return { mode: "s3", output: { uri, bytes: body.length, format: document.format } };
    }

    public async health(): Promise<SinkHealth> {
        try {
            await this.options.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }), {
                abortSignal: AbortSignal.timeout(this.options.healthTimeoutMs ?? 5000)
            });
            return "ok";
        } catch {
            return "error";
        }
    }
}
