import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { GgmlType as NlcGgmlType, readGgufFileInfo } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSyntheticVocab, SPM_SPACE, SynthTokenType } from "../../src/models/synth/buildSyntheticVocab.js";
import {
    dequantizeQ8_0, encodeGgmlValues, f16BitsToF32, f32ToF16Bits, GgmlType, ggmlTensorByteSize
} from "../../src/models/synth/ggmlEncoding.js";
import {
    encodeMetadataEntry, GgufValueType, ggufValue, GgufWriter, type GgufTensorSpec
} from "../../src/models/synth/GgufWriter.js";
import { SeededRandom } from "../../src/models/synth/SeededRandom.js";
import { SyntheticModelError } from "../../src/models/synth/SyntheticModelError.js";
import { synthPresets } from "../../src/models/synth/synthPresets.js";
import { writeSyntheticModel } from "../../src/models/synth/writeSyntheticModel.js";

let dir: string;
beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "mentator-gguf-"));
});
afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
});

async function writeGguf(file: string, alignment: number | undefined,
    metadata: Record<string, ReturnType<typeof ggufValue.uint8>>,
    tensors: Array<GgufTensorSpec & { bytes: Uint8Array }>): Promise<void> {
    const writer = await GgufWriter.create(file, { alignment });
    for (const [key, value] of Object.entries(metadata))
        writer.addMetadata(key, value);
    for (const tensor of tensors)
        writer.addTensor(tensor);
    await writer.writeHeader();
    for (const tensor of tensors)
        await writer.writeTensorData(tensor.name, [tensor.bytes.subarray(0, 3), tensor.bytes.subarray(3)]);
    await writer.finish();
}

function bytesOf(count: number, fill: number): Uint8Array {
    return new Uint8Array(count).map((_, i) => (fill + i) & 0xff);
}

describe("GGUF metadata encoding", () => {
    it("encodes a key/value pair byte for byte", () => {
        expect([...encodeMetadataEntry("ab", ggufValue.uint32(0x01020304))]).toEqual([
            2, 0, 0, 0, 0, 0, 0, 0, 0x61, 0x62, // key: u64 length + bytes
            4, 0, 0, 0, // type: uint32
            4, 3, 2, 1
        ]);
        expect([...encodeMetadataEntry("k", ggufValue.array(GgufValueType.Int16, [-2, 3]))]).toEqual([
            1, 0, 0, 0, 0, 0, 0, 0, 0x6b,
            9, 0, 0, 0, // array
            3, 0, 0, 0, // of int16
            2, 0, 0, 0, 0, 0, 0, 0,
            0xfe, 0xff, 3, 0
        ]);
        expect([...encodeMetadataEntry("b", ggufValue.bool(true))].slice(-5)).toEqual([7, 0, 0, 0, 1]);
    });

    it("round-trips every value type through node-llama-cpp's reader", async () => {
        const file = path.join(dir, "kv.gguf");
        await writeGguf(file, undefined, {
            "test.u8": ggufValue.uint8(255),
            "test.i8": ggufValue.int8(-128),
            "test.u16": ggufValue.uint16(65535),
            "test.i16": ggufValue.int16(-32768),
            "test.u32": ggufValue.uint32(4294967295),
            "test.i32": ggufValue.int32(-2147483648),
            "test.f32": ggufValue.float32(-1.5),
            "test.f64": ggufValue.float64(Math.PI),
            "test.u64": ggufValue.uint64(18446744073709551615n),
            "test.i64": ggufValue.int64(-9007199254740993n),
            "test.flag": ggufValue.bool(false),
            "test.text": ggufValue.string("héllo ▁wörld"),
            "test.strings": ggufValue.array(GgufValueType.String, ["<s>", "", "▁the"]),
            "test.floats": ggufValue.array(GgufValueType.Float32, [0.25, -2]),
            "test.ints": ggufValue.array(GgufValueType.Int32, [1, -1, 2147483647]),
            "test.bools": ggufValue.array(GgufValueType.Bool, [true, false]),
            "test.big": ggufValue.array(GgufValueType.Uint64, [1n, 2])
        }, [{ name: "t", dims: [4], type: GgmlType.F32, bytes: bytesOf(16, 0) }]);

        const info = await readGgufFileInfo(file, { logWarnings: false });
        const test = (info.metadata as unknown as { test: Record<string, unknown> }).test;
        expect(info.version).toBe(3);
        expect(test).toEqual({
            u8: 255, i8: -128, u16: 65535, i16: -32768, u32: 4294967295, i32: -2147483648,
            f32: -1.5, f64: Math.PI, u64: 18446744073709551615n, i64: -9007199254740993n,
            flag: false, text: "héllo ▁wörld", strings: ["<s>", "", "▁the"], floats: [0.25, -2],
            ints: [1, -1, 2147483647], bools: [true, false], big: [1n, 2n]
        });
        // the default alignment is not written
        expect((info.metadata.general as { alignment?: number } | undefined)?.alignment).toBeUndefined();
    });

    it("rejects values that do not fit their type", () => {
        expect(() => encodeMetadataEntry("x", ggufValue.uint8(256))).toThrow(/x.*out of range/);
        expect(() => encodeMetadataEntry("x", ggufValue.int8(-129))).toThrow(/out of range/);
        expect(() => encodeMetadataEntry("x", ggufValue.uint32(-1))).toThrow(/out of range/);
        expect(() => encodeMetadataEntry("x", ggufValue.int32(1.5))).toThrow(/integer/);
        expect(() => encodeMetadataEntry("x", ggufValue.uint64(-1n))).toThrow(/out of range/);
        expect(() => encodeMetadataEntry("x", ggufValue.uint64(2 ** 60))).toThrow(/bigint/);
        expect(() => encodeMetadataEntry("x", ggufValue.array(GgufValueType.String, ["a", 1]))).toThrow(/string/);
        expect(() => encodeMetadataEntry("x", ggufValue.array(GgufValueType.Array as never, []))).toThrow(/nested/);
    });
});

describe("GgufWriter layout", () => {
    const tensors = [
        { name: "a", dims: [3], type: GgmlType.F32, bytes: bytesOf(12, 1) },
        { name: "b", dims: [5, 3], type: GgmlType.F16, bytes: bytesOf(30, 50) },
        { name: "c", dims: [64, 2], type: GgmlType.Q8_0, bytes: bytesOf(136, 90) },
        { name: "d", dims: [1], type: GgmlType.F32, bytes: bytesOf(4, 200) }
    ];

    for (const alignment of [32, 64, 256]) {
        it(`aligns the data section and every tensor to ${alignment} bytes`, async () => {
            const file = path.join(dir, `align-${alignment}.gguf`);
            await writeGguf(file, alignment, { "general.architecture": ggufValue.string("llama") }, tensors);

            const info = await readGgufFileInfo(file, { logWarnings: false });
            const general = info.metadata.general as { alignment?: number };
            expect(general.alignment).toBe(alignment === 32 ? undefined : alignment);
            const dataStart = info.tensorInfo![0]!.fileOffset as number;
            expect(dataStart % alignment).toBe(0);
            expect(info.tensorInfo!.map((t) => [t.name, t.dimensions, t.ggmlType, t.offset])).toEqual([
                ["a", [3], NlcGgmlType.F32, 0],
                ["b", [5, 3], NlcGgmlType.F16, alignment],
                ["c", [64, 2], NlcGgmlType.Q8_0, alignment * 2],
                ["d", [1], NlcGgmlType.F32, alignment * 2 + Math.ceil(136 / alignment) * alignment]
            ]);

            const content = await fs.readFile(file);
            const last = info.tensorInfo![3]!;
            expect(content.length).toBe((last.fileOffset as number) + alignment); // the last tensor is padded too
            for (const [index, tensor] of tensors.entries()) {
                const offset = info.tensorInfo![index]!.fileOffset as number;
                expect([...content.subarray(offset, offset + tensor.bytes.length)]).toEqual([...tensor.bytes]);
            }
        });
    }

    it("enforces the write order and sizes", async () => {
        const writer = await GgufWriter.create(path.join(dir, "order.gguf"));
        writer.addTensor({ name: "x", dims: [2], type: GgmlType.F32 });
        writer.addTensor({ name: "y", dims: [2], type: GgmlType.F32 });
        expect(() => writer.addTensor({ name: "x", dims: [2], type: GgmlType.F32 })).toThrow(/Duplicate/);
        expect(() => writer.addMetadata("general.name", ggufValue.uint8(300))).toThrow(/general.name/);
        await writer.writeHeader();
        expect(() => writer.addMetadata("late", ggufValue.bool(true))).toThrow(/Cannot add metadata/);
        await expect(writer.writeTensorData("y", [new Uint8Array(8)])).rejects.toThrow(/Expected data for tensor "x"/);
        await expect(writer.writeTensorData("x", [new Uint8Array(7)])).rejects.toThrow(/got 7 bytes, expected 8/);
        await writer.abort();

        const second = await GgufWriter.create(path.join(dir, "short.gguf"));
        second.addTensor({ name: "x", dims: [2], type: GgmlType.F32 });
        second.addTensor({ name: "y", dims: [2], type: GgmlType.F32 });
        await second.writeHeader();
        await second.writeTensorData("x", [new Uint8Array(8)]);
        await expect(second.finish()).rejects.toThrow(/Only 1 of 2 tensors/);
        await second.abort();

        await expect(GgufWriter.create(path.join(dir, "short.gguf"))).rejects.toThrow(/EEXIST/);
        await expect(GgufWriter.create(path.join(dir, "bad.gguf"), { alignment: 48 })).rejects.toThrow(/power of two/);
    });

    it("rejects invalid tensor descriptions", async () => {
        const writer = await GgufWriter.create(path.join(dir, "invalid.gguf"));
        expect(() => writer.addTensor({ name: "n".repeat(64), dims: [1], type: GgmlType.F32 })).toThrow(/1 to 63 bytes/);
        expect(() => writer.addTensor({ name: "q", dims: [48, 2], type: GgmlType.Q8_0 })).toThrow(/multiple of 32/);
        expect(() => writer.addTensor({ name: "z", dims: [0], type: GgmlType.F32 })).toThrow(/invalid dimension/);
        expect(() => writer.addTensor({ name: "5d", dims: [1, 1, 1, 1, 1], type: GgmlType.F32 })).toThrow(/1 to 4/);
        await writer.abort();
    });
});

describe("tensor encodings", () => {
    it("converts float32 to float16 with round-to-nearest-even", () => {
        expect(f32ToF16Bits(0)).toBe(0x0000);
        expect(f32ToF16Bits(-0)).toBe(0x8000);
        expect(f32ToF16Bits(1)).toBe(0x3c00);
        expect(f32ToF16Bits(-2)).toBe(0xc000);
        expect(f32ToF16Bits(65504)).toBe(0x7bff);
        expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up to Inf
        expect(f32ToF16Bits(Infinity)).toBe(0x7c00);
        expect(f32ToF16Bits(NaN) & 0x7c00).toBe(0x7c00);
        expect(f32ToF16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
        expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // halfway: ties to even (0)
        expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // halfway: ties to even (2)
        expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and next: even
        expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
        // half a unit in the last place: relative for normals, 2^-25 absolute for subnormals (1e-5)
        for (const value of [0.1, -3.14159, 1e-5, 1234.5])
            expect(Math.abs(f16BitsToF32(f32ToF16Bits(value)) - value))
                .toBeLessThanOrEqual(Math.max(Math.abs(value) * 2 ** -11, 2 ** -25));
    });

    it("quantizes Q8_0 blocks like ggml", () => {
        const values = new Float32Array(64);
        const random = new SeededRandom(1);
        random.fillUniform(values, 64, 0.5);
        values[5] = -0.75; // block 0's max |x|
        values.fill(0, 32); // block 1 all zero: scale 0
        const out = new Uint8Array(ggmlTensorByteSize(GgmlType.Q8_0, [64]));
        expect(encodeGgmlValues(GgmlType.Q8_0, values, 64, out)).toBe(68);
        expect(f16BitsToF32(out[0]! | (out[1]! << 8))).toBeCloseTo(0.75 / 127, 6);
        expect((out[2 + 5]! << 24) >> 24).toBe(-127);
        const back = dequantizeQ8_0(out, 64);
        for (let i = 0; i < 32; i++)
            expect(Math.abs(back[i]! - values[i]!)).toBeLessThanOrEqual(0.75 / 127 / 2 + 1e-4);
        expect([...back.subarray(32)].every((v) => v === 0)).toBe(true);
    });

    it("produces the same stream for the same seed and stream index", () => {
        const draw = (seed: number, stream: number): number[] => {
            const values = new Float32Array(1000);
            new SeededRandom(seed, stream).fillUniform(values, 1000, 1);
            return [...values];
        };
        expect(draw(5, 2)).toEqual(draw(5, 2));
        expect(draw(5, 2)).not.toEqual(draw(5, 3));
        expect(draw(5, 2)).not.toEqual(draw(6, 2));
        const values = draw(9, 0);
        expect(Math.min(...values)).toBeGreaterThanOrEqual(-1);
        expect(Math.max(...values)).toBeLessThan(1);
        expect(Math.abs(values.reduce((a, b) => a + b, 0) / values.length)).toBeLessThan(0.1);
        expect(() => new SeededRandom(-1)).toThrow(/Seed/);
    });
});

describe("synthetic vocabulary", () => {
    it("has the special, byte and chat tokens at fixed ids", () => {
        const vocab = buildSyntheticVocab(512);
        expect(vocab.tokens).toHaveLength(512);
        expect(new Set(vocab.tokens).size).toBe(512);
        expect(vocab.tokens.slice(0, 4)).toEqual(["<unk>", "<s>", "</s>", "<0x00>"]);
        expect(vocab.tokens[258]).toBe("<0xFF>");
        expect(vocab.types.slice(3, 259).every((type) => type === SynthTokenType.Byte)).toBe(true);
        expect(vocab.tokens[vocab.imStartId]).toBe("<|im_start|>");
        expect(vocab.tokens[vocab.imEndId]).toBe("<|im_end|>");
        expect(vocab.types[vocab.imEndId]).toBe(SynthTokenType.Control);
        expect(vocab.tokens).toContain(`${SPM_SPACE}the`);
        expect(vocab.suppressedIds).toEqual(Array.from({ length: 261 }, (_, id) => id));
    });

    it("fills a full-size vocabulary with unique printable tokens", () => {
        const vocab = buildSyntheticVocab(synthPresets.qwen05.vocabSize);
        expect(new Set(vocab.tokens).size).toBe(151936);
        const normal = vocab.tokens.filter((_, id) => vocab.types[id] === SynthTokenType.Normal);
        expect(normal).toHaveLength(151936 - 261);
        expect(normal.every((token) => /^[\x21-\x7e]+$/.test(token.replaceAll(SPM_SPACE, "!")))).toBe(true);
        expect(vocab.scores.slice(261, 264)).toEqual([-0, -1, -2]);
        expect(() => buildSyntheticVocab(100)).toThrow(/at least/);
    });
});

describe("writeSyntheticModel", () => {
    const sha256 = async (file: string): Promise<string> =>
        createHash("sha256").update(await fs.readFile(file)).digest("hex");

    it("writes a tiny llama model that node-llama-cpp reads back", async () => {
        const out = path.join(dir, "tiny.gguf");
        const result = await writeSyntheticModel({ out, preset: "tiny" });
        expect(result).toEqual({ path: out, sizeBytes: (await fs.stat(out)).size, tensors: 21 });
        expect(result.sizeBytes).toBeGreaterThan(200_000);
        expect(result.sizeBytes).toBeLessThan(1_000_000);

        const info = await readGgufFileInfo(out, { logWarnings: false });
        const metadata = info.metadata as unknown as {
            general: Record<string, unknown>; llama: Record<string, unknown>;
            tokenizer: { ggml: Record<string, unknown>; chat_template: string };
        };
        expect(metadata.general).toMatchObject({ architecture: "llama", name: "synthetic-tiny", file_type: 0 });
        expect(metadata.llama).toMatchObject({
            context_length: 4096, embedding_length: 64, block_count: 2, feed_forward_length: 128,
            attention: { head_count: 4, head_count_kv: 2 }, rope: { dimension_count: 16 }
        });
        const ggml = metadata.tokenizer.ggml;
        expect(ggml).toMatchObject({ model: "llama", bos_token_id: 1, eos_token_id: 2, eot_token_id: 260, add_bos_token: true });
        expect((ggml.tokens as string[]).slice(257, 261)).toEqual(["<0xFE>", "<0xFF>", "<|im_start|>", "<|im_end|>"]);
        expect((ggml.token_type as number[])[260]).toBe(3);
        expect(ggml.scores as number[]).toHaveLength(512);
        expect(metadata.tokenizer.chat_template).toContain("<|im_start|>");
        expect(metadata.tokenizer.chat_template).toContain("tools");

        const tensors = info.tensorInfo!;
        expect(tensors.map((t) => t.name).slice(0, 5))
            .toEqual(["token_embd.weight", "output_norm.weight", "output.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight"]);
        expect(tensors.find((t) => t.name === "blk.1.attn_k.weight")?.dimensions).toEqual([64, 32]);
        expect(tensors.find((t) => t.name === "blk.1.ffn_down.weight")?.dimensions).toEqual([128, 64]);
        expect(tensors.every((t) => t.ggmlType === NlcGgmlType.F32)).toBe(true);
    });

    it("is byte-identical for a seed and differs across seeds", async () => {
        const a = await writeSyntheticModel({ out: path.join(dir, "s1a.gguf"), preset: "tiny", seed: 7, quant: "q8_0" });
        const b = await writeSyntheticModel({ out: path.join(dir, "s1b.gguf"), preset: "tiny", seed: 7, quant: "q8_0" });
        const c = await writeSyntheticModel({ out: path.join(dir, "s2.gguf"), preset: "tiny", seed: 8, quant: "q8_0" });
        expect(await sha256(a.path)).toBe(await sha256(b.path));
        expect(await sha256(a.path)).not.toBe(await sha256(c.path));
        expect(a.sizeBytes).toBe(c.sizeBytes);
    });

    it("uses the requested quant for matrices and keeps norms in F32", async () => {
        for (const [quant, type] of [["f16", NlcGgmlType.F16], ["q8_0", NlcGgmlType.Q8_0]] as const) {
            const { path: file } = await writeSyntheticModel({
                out: path.join(dir, `tiny-${quant}.gguf`), preset: "tiny", quant, contextLength: 1024, name: "custom"
            });
            const info = await readGgufFileInfo(file, { logWarnings: false });
            for (const tensor of info.tensorInfo!)
                expect(tensor.ggmlType).toBe(tensor.dimensions.length === 1 ? NlcGgmlType.F32 : type);
            expect(info.metadata.general?.name).toBe("custom");
            expect((info.metadata as unknown as { llama: { context_length: number } }).llama.context_length).toBe(1024);
        }
    });

    it("refuses bad options and existing files, and leaves no temporary files", async () => {
        const sub = await fs.mkdtemp(path.join(dir, "refuse-"));
        const out = path.join(sub, "m.gguf");
        await writeSyntheticModel({ out, preset: "tiny" });
        const before = await sha256(out);
        await expect(writeSyntheticModel({ out, preset: "tiny", seed: 99 }))
            .rejects.toMatchObject({ code: "FILE_EXISTS", name: "SyntheticModelError" });
        expect(await sha256(out)).toBe(before);
        await writeSyntheticModel({ out, preset: "tiny", seed: 99, force: true });
        expect(await sha256(out)).not.toBe(before);

        const bad = (options: object): Promise<unknown> =>
            writeSyntheticModel({ out: path.join(sub, "x.gguf"), preset: "tiny", ...options });
        await expect(bad({ preset: "huge" })).rejects.toThrow(/Unknown preset "huge"/);
        await expect(bad({ quant: "q4_0" })).rejects.toMatchObject({ code: "BAD_QUANT" });
        await expect(bad({ seed: -1 })).rejects.toBeInstanceOf(SyntheticModelError);
        await expect(bad({ seed: 1.5 })).rejects.toThrow(/Seed/);
        await expect(bad({ contextLength: 0 })).rejects.toThrow(/Context length/);
        await expect(bad({ name: " " })).rejects.toThrow(/name/);
        await expect(writeSyntheticModel({ out: sub, preset: "tiny", force: true })).rejects.toThrow(/is a directory/);
        expect(await fs.readdir(sub)).toEqual(["m.gguf"]);
    });

    it("creates missing directories", async () => {
        const out = path.join(dir, "deep", "er", "m.gguf");
        await writeSyntheticModel({ out, preset: "tiny" });
        expect((await fs.stat(out)).isFile()).toBe(true);
    });
});
