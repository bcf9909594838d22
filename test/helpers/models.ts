import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SeededRandom } from "../../src/models/synth/SeededRandom.js";
import type { SynthQuant } from "../../src/models/synth/synthPresets.js";
import { writeSyntheticModel } from "../../src/models/synth/writeSyntheticModel.js";

export interface TinyModelOptions {
    /** Type of the 2-D tensors. Defaults to `f32`. */
    quant?: SynthQuant;
    /** Seed of the random weights. Defaults to the writer's (1234). */
    seed?: number;
    /** Trained context length recorded in the file. Defaults to 4096. */
    contextLength?: number;
    /** `general.name` recorded in the file. Defaults to "synthetic-tiny". */
    modelName?: string;
}

/** Shared across test files and runs; entries are keyed by options and the generator's source. */
export const testModelCacheDir = path.join(os.tmpdir(), "mentator-test-models");
const synthSourceDir = fileURLToPath(new URL("../../src/models/synth/", import.meta.url));

/**
 * Write the `tiny` synthetic model (a few hundred KB, real tokenizer and ChatML template) to
 * `<dir>/<name>.gguf` and return its path. The first call for given options writes it into
 * the cache; later calls copy it.
 */
export async function makeTinyModel(dir: string, name = "tiny", opts: TinyModelOptions = {}): Promise<string> {
    const cached = await getCachedTinyModel(opts);
    const target = path.join(dir, `${name}.gguf`);
    await fs.mkdir(dir, { recursive: true });
    await fs.copyFile(cached, target);
    return target;
}

/** Path of the cached tiny model for `opts`, written first if missing. Do not modify the file. */
async function getCachedTinyModel(opts: TinyModelOptions): Promise<string> {
    const cached = path.join(testModelCacheDir, `tiny-${await cacheKey(opts)}.gguf`);
    if (!await exists(cached)) {
        await fs.mkdir(testModelCacheDir, { recursive: true });
        // force: a concurrent worker may finish the same file first; both write identical bytes.
        await writeSyntheticModel({
            out: cached,
            preset: "tiny",
            quant: opts.quant,
            seed: opts.seed,
            contextLength: opts.contextLength,
            name: opts.modelName,
            force: true
        });
    }
    return cached;
}

export type CorruptModelKind =
    /** "GGUF" followed by random bytes. */
    | "garbage"
    /** A valid tiny model whose first four bytes are not "GGUF". */
    | "badMagic"
    /** A valid tiny model cut in half: the header is fine, the tensor data is missing. */
    | "truncated"
    /** A zero-byte file. */
    | "empty";

/** Write a `.gguf` file that no engine can load to `<dir>/<name>.gguf` and return its path. */
export async function makeCorruptModel(dir: string, name = "corrupt", kind: CorruptModelKind = "garbage"): Promise<string> {
    const target = path.join(dir, `${name}.gguf`);
    await fs.mkdir(dir, { recursive: true });
    switch (kind) {
        case "garbage": {
            const random = new SeededRandom(7, 7);
            const bytes = Buffer.alloc(4096);
            for (let i = 4; i < bytes.length; i += 4)
                bytes.writeUInt32LE(random.nextUint32(), i);
            bytes.write("GGUF", 0, "latin1");
            await fs.writeFile(target, bytes);
            break;
        }
        case "badMagic":
        case "truncated": {
            const valid = await fs.readFile(await getCachedTinyModel({}));
            if (kind === "badMagic")
                valid.write("NOPE", 0, "latin1");
            await fs.writeFile(target, kind === "truncated" ? valid.subarray(0, valid.length >> 1) : valid);
            break;
        }
        case "empty":
            await fs.writeFile(target, Buffer.alloc(0));
            break;
    }

    return target;
}

async function cacheKey(opts: TinyModelOptions): Promise<string> {
    const hash = createHash("sha256");
    hash.update(JSON.stringify([opts.quant ?? null, opts.seed ?? null, opts.contextLength ?? null, opts.modelName ?? null]));
    // The generator's source is part of the key, so a changed writer never serves stale files.
    const files = (await fs.readdir(synthSourceDir)).filter((file) => file.endsWith(".ts")).sort();
    for (const file of files) {
        hash.update(file);
        hash.update(await fs.readFile(path.join(synthSourceDir, file)));
    }
    return hash.digest("hex").slice(0, 20);
}

async function exists(file: string): Promise<boolean> {
    return fs.access(file).then(() => true, () => false);
}
