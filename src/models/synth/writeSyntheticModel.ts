import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { encodeGgmlValues, ggmlEncodedByteSize } from "./ggmlEncoding.js";
import { GgufWriter } from "./GgufWriter.js";
import { type SynthTensorRecipe, planSyntheticModel } from "./planSyntheticModel.js";
import { SeededRandom } from "./SeededRandom.js";
import { SyntheticModelError } from "./SyntheticModelError.js";
import {
    type SynthPresetName, type SynthQuant, isSynthPresetName, isSynthQuant, synthPresetNames, synthPresets, synthQuants
} from "./synthPresets.js";

export const SYNTH_DEFAULT_SEED = 1234;
/** Values generated per chunk (~4 MB of float32 scratch). */
const CHUNK_VALUES = 1 << 20;

export interface WriteSyntheticModelOptions {
    /** Output file (`.gguf`). Its directory is created if missing. */
    out: string;
    /** Model shape: `tiny` (tests), `qwen05` (Qwen2.5-0.5B's shape), `llama8b` (Llama-3-8B's shape). */
    preset: SynthPresetName;
    /** Type of the 2-D tensors. Defaults to the preset's (`f32` for tiny, `q8_0` for the others). */
    quant?: SynthQuant;
    /** Seed of the random weights; the same options give a byte-identical file. Defaults to `1234`. */
    seed?: number;
    /** Replace an existing `out`. Defaults to `false` (an existing file is an error). */
    force?: boolean;
    /** Trained context length (`llama.context_length`). Defaults to the preset's. */
    contextLength?: number;
    /** `general.name`. Defaults to the preset's model name. */
    name?: string;
    /** Called as data is written. */
    onProgress?: (progress: { bytesWritten: number; totalBytes: number }) => void;
}

export interface WriteSyntheticModelResult {
    /** Absolute path of the written file. */
    path: string;
    sizeBytes: number;
    tensors: number;
}

/**
 * Write a GGUF v3 "llama" model with random weights (fixed seed) and a real tokenizer and chat
 * template, tensor by tensor, into `<out>.tmp-<pid>-<random>`, then rename it to `out`.
 * Throws `SyntheticModelError` for bad options or an existing file without `force`.
 */
export async function writeSyntheticModel(options: WriteSyntheticModelOptions): Promise<WriteSyntheticModelResult> {
    const resolved = resolveOptions(options);
    const preset = synthPresets[resolved.presetName];
    const plan = planSyntheticModel({
        preset,
        presetName: resolved.presetName,
        quant: resolved.quant,
        seed: resolved.seed,
        contextLength: resolved.contextLength,
        name: resolved.name
    });

    const outPath = path.resolve(resolved.out);
    await assertWritableTarget(outPath, resolved.force);
    await makeDirectories(path.dirname(outPath));

    // The random suffix keeps two writers in one process (or a stale file of a reused pid) apart.
    const tempPath = `${outPath}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    const writer = await GgufWriter.create(tempPath);
    try {
        for (const [key, value] of plan.metadata)
            writer.addMetadata(key, value);
        for (const tensor of plan.tensors)
            writer.addTensor(tensor);

        await writer.writeHeader();
        const report = (): void => options.onProgress?.({
            bytesWritten: writer.bytesWritten,
            totalBytes: writer.expectedFileSize
        });
        for (const [index, tensor] of plan.tensors.entries())
            await writer.writeTensorData(tensor.name,
                generateTensorChunks(tensor, resolved.seed, index, plan.weightHalfRange, report));

        const { sizeBytes } = await writer.finish();
        report();
        if (!resolved.force)
            await assertWritableTarget(outPath, false);

        await fs.rename(tempPath, outPath);
        return { path: outPath, sizeBytes, tensors: plan.tensors.length };
    } catch (err) {
        await writer.abort().catch(() => undefined);
        await fs.rm(tempPath, { force: true }).catch(() => undefined);
        throw err;
    }
}

interface ResolvedOptions {
    out: string;
    presetName: SynthPresetName;
    quant: SynthQuant;
    seed: number;
    force: boolean;
    contextLength: number;
    name: string;
}

function resolveOptions(options: WriteSyntheticModelOptions): ResolvedOptions {
    if (typeof options.out !== "string" || options.out.trim() === "")
        throw new SyntheticModelError("BAD_OPTION", "An output file is required");

    const presetName: string = options.preset;
    if (!isSynthPresetName(presetName))
        throw new SyntheticModelError("BAD_PRESET",
            `Unknown preset "${presetName}"; expected one of: ${synthPresetNames.join(", ")}`);

    const preset = synthPresets[presetName];
    const quant: string = options.quant ?? preset.defaultQuant;
    if (!isSynthQuant(quant))
        throw new SyntheticModelError("BAD_QUANT", `Unknown quant "${quant}"; expected one of: ${synthQuants.join(", ")}`);

    const seed = options.seed ?? SYNTH_DEFAULT_SEED;
    if (!Number.isSafeInteger(seed) || seed < 0)
        throw new SyntheticModelError("BAD_OPTION", `Seed must be a non-negative integer, got ${seed}`);

    const contextLength = options.contextLength ?? preset.contextLength;
    if (!Number.isInteger(contextLength) || contextLength < 1 || contextLength > 0xffffffff)
        throw new SyntheticModelError("BAD_OPTION",
            `Context length must be a positive integer, got ${contextLength}`);

    const name = options.name ?? preset.modelName;
    if (typeof name !== "string" || name.trim() === "")
        throw new SyntheticModelError("BAD_OPTION", "Model name must not be empty");

    return { out: options.out, presetName, quant, seed, force: options.force ?? false, contextLength, name };
}

async function assertWritableTarget(outPath: string, force: boolean): Promise<void> {
    const stat = await fs.stat(outPath).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT")
            return undefined;
        throw err;
    });
    if (stat == null)
        return;
    if (stat.isDirectory())
        throw new SyntheticModelError("BAD_OPTION", `${outPath} is a directory`);
    if (!force)
        throw new SyntheticModelError("FILE_EXISTS", `${outPath} already exists (use force to replace it)`);
}

/**
 * `mkdir -p`, one level at a time: Node 20's recursive mkdir never returns for some paths
 * (e.g. under /proc), where a plain mkdir fails with a clear error.
 */
async function makeDirectories(directory: string): Promise<void> {
    const missing: string[] = [];
    for (let current = directory; ; current = path.dirname(current)) {
        const exists = await fs.stat(current).then(() => true, (err: NodeJS.ErrnoException) => {
            if (err.code === "ENOENT")
                return false;
            throw err;
        });
        if (exists || path.dirname(current) === current)
            break;
        missing.unshift(current);
    }
    for (const dir of missing)
        await fs.mkdir(dir).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== "EEXIST")
                throw err;
        });
}

/**
 * The encoded bytes of one tensor, in chunks of whole rows. Two output buffers alternate, as
 * `GgufWriter.writeTensorData` may still be writing the previous chunk while the next is made.
 */
function* generateTensorChunks(
    tensor: SynthTensorRecipe, seed: number, index: number, half: number, onChunk: () => void
): Generator<Uint8Array> {
    const ne0 = tensor.dims[0] ?? 1;
    let rows = 1;
    for (const dim of tensor.dims.slice(1))
        rows *= dim;

    const rowsPerChunk = Math.min(rows, Math.max(1, Math.floor(CHUNK_VALUES / ne0)));
    const scratch = new Float32Array(rowsPerChunk * ne0);
    const outputs = [0, 1].map(() => new Uint8Array(ggmlEncodedByteSize(tensor.type, scratch.length)));
    const random = tensor.init === "uniform" ? new SeededRandom(seed, index) : undefined;
    let turn = 0;
    for (let rowStart = 0; rowStart < rows; rowStart += rowsPerChunk) {
        const rowCount = Math.min(rowsPerChunk, rows - rowStart);
        const count = rowCount * ne0;
        if (random != null)
            random.fillUniform(scratch, count, half);
        else
            scratch.fill(1, 0, count);

        tensor.patchRows?.(scratch, rowStart, rowCount);
        const output = outputs[turn++ % 2]!;
        const byteCount = encodeGgmlValues(tensor.type, scratch, count, output);
        yield output.subarray(0, byteCount);
        onChunk();
    }
}
