import { z } from "zod";

const WEEK_MS = 7 * 24 * 3600_000;

/**
 * A job request as RunPod takes it (`POST /v2/{endpoint}/run` body, `mentator run --job` file):
 * `{"input": {...}, "webhook"?, "policy"?: {executionTimeout, ttl} (ms), "output"?}`.
 */
export const jobRequestSchema = z.strictObject({
    input: z.record(z.string(), z.unknown(), { error: "expected an object: the job's input" }),
    webhook: z
        .string()
        .url()
        .refine((url) => /^https?:\/\//i.test(url), "expected an http:// or https:// URL")
        .optional(),
    policy: z
        .strictObject({
            executionTimeout: z.number().int().positive().max(WEEK_MS).optional(),
            ttl: z.number().int().positive().max(WEEK_MS).optional(),
            lowPriority: z.boolean().optional()
        })
        .optional(),
    output: z.enum(["inline", "base64", "s3", "gcs"]).optional(),
    s3Config: z.unknown().refine(() => false, 'not supported: configure storage.s3 (S3_* variables) and set output to "s3"').optional(),
    webhookV2: z.unknown().refine(() => false, "not supported: use webhook").optional()
});

export type JobRequestBody = z.infer<typeof jobRequestSchema>;
