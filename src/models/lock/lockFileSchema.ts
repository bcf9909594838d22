import { z } from "zod";

const lockedModelSchema = z.object({
    /** Model id (what API requests name). */
    id: z.string().min(1),
    /** File relative to the models directory. */
    file: z.string().min(1),
    sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, "expected 64 hex digits").transform((value) => value.toLowerCase()),
    size: z.number().int().nonnegative(),
    /** Where `models verify --fetch` downloads it from (https://, hf:, s3://, gs://); absent when unknown. */
    source: z.string().min(1).nullish().transform((value) => value ?? undefined)
});

/** `mentator.lock.json` (SERVICE.md): engine versions (optional) and the exact model files. */
export const lockFileSchema = z.object({
    engine: z.record(z.string(), z.string()).optional(),
    models: z.array(lockedModelSchema)
});

export interface LockedModel {
    id: string;
    file: string;
    /** Lower-case hex. */
    sha256: string;
    size: number;
    source?: string;
}

export interface LockFile {
    engine?: Record<string, string>;
    models: LockedModel[];
}
