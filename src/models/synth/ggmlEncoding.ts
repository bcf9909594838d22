import os from "node:os";

/** ggml tensor types this writer can produce (values are ggml's `ggml_type`). */
export enum GgmlType {
    F32 = 0,
    F16 = 1,
    Q8_0 = 8
}

/** Values per Q8_0 block along ne[0]. */
export const Q8_0_BLOCK_VALUES = 32;
/** Bytes per Q8_0 block: an fp16 scale, then 32 int8 values. */
export const Q8_0_BLOCK_BYTES = 34;

// The encoders below reinterpret typed arrays as bytes; GGUF is little-endian.
if (os.endianness() !== "LE")
    throw new Error("The GGUF writer needs a little-endian CPU");

export function ggmlTypeName(type: GgmlType): string {
    switch (type) {
        case GgmlType.F32: return "F32";
        case GgmlType.F16: return "F16";
        case GgmlType.Q8_0: return "Q8_0";
    }
}

/**
 * Bytes a tensor of `type` with dimensions `dims` (ne[0] first) takes, without padding.
 * Throws when a Q8_0 tensor's first dimension is not a multiple of the block size.
 */
export function ggmlTensorByteSize(type: GgmlType, dims: readonly number[]): number {
    let count = 1;
    for (const dim of dims)
        count *= dim;

    switch (type) {
        case GgmlType.F32: return count * 4;
        case GgmlType.F16: return count * 2;
        case GgmlType.Q8_0: {
            const ne0 = dims[0] ?? 1;
            if (ne0 % Q8_0_BLOCK_VALUES !== 0)
                throw new RangeError(`Q8_0 needs ne[0] to be a multiple of ${Q8_0_BLOCK_VALUES}, got ${ne0}`);

            return count / Q8_0_BLOCK_VALUES * Q8_0_BLOCK_BYTES;
        }
    }
}

/** Bytes `valueCount` values take when encoded as `type` (`valueCount` must fill whole Q8_0 blocks). */
export function ggmlEncodedByteSize(type: GgmlType, valueCount: number): number {
    return ggmlTensorByteSize(type, [valueCount]);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE 754 binary16 bits of `value`, rounded to nearest even (like ggml's FP32_TO_FP16). */
export function f32ToF16Bits(value: number): number {
    f32Scratch[0] = value;
    const bits = u32Scratch[0]!;
    const sign = (bits >>> 16) & 0x8000;
    const exponent = (bits >>> 23) & 0xff;
    let mantissa = bits & 0x7fffff;

    if (exponent === 0xff) // Inf stays Inf, NaN stays a (quiet) NaN
        return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);

    const halfExponent = exponent - 127 + 15;
    if (halfExponent >= 0x1f)
        return sign | 0x7c00;

    if (halfExponent <= 0) {
        // Subnormal half (or zero): value = m * 2^-24 with the implicit bit made explicit.
        if (halfExponent < -10)
            return sign;

        mantissa |= 0x800000;
        const shift = 14 - halfExponent;
        let half = mantissa >>> shift;
        const rest = mantissa & ((1 << shift) - 1);
        const halfway = 1 << (shift - 1);
        if (rest > halfway || (rest === halfway && (half & 1) !== 0))
            half++;

        return sign | half;
    }

    let half = (halfExponent << 10) | (mantissa >>> 13);
    const rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (half & 1) !== 0))
        half++; // a carry into the exponent is the right result (up to Inf)

    return sign | half;
}

/** The number an IEEE 754 binary16 bit pattern stands for. */
export function f16BitsToF32(bits: number): number {
    const sign = (bits & 0x8000) !== 0 ? -1 : 1;
    const exponent = (bits >>> 10) & 0x1f;
    const mantissa = bits & 0x3ff;
    if (exponent === 0)
        return sign * mantissa * 2 ** -24;
    if (exponent === 0x1f)
        return mantissa === 0 ? sign * Infinity : NaN;

    return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/**
 * Encode the first `count` values of `src` as `type` into `dst` (from byte 0).
 * Returns the number of bytes written. `dst` must start at an even byte offset for F16.
 */
export function encodeGgmlValues(type: GgmlType, src: Float32Array, count: number, dst: Uint8Array): number {
    const byteCount = ggmlEncodedByteSize(type, count);
    if (dst.byteLength < byteCount)
        throw new RangeError(`Output buffer too small: ${dst.byteLength} < ${byteCount}`);

    switch (type) {
        case GgmlType.F32:
            dst.set(new Uint8Array(src.buffer, src.byteOffset, count * 4));
            break;
        case GgmlType.F16: {
            const out = new Uint16Array(dst.buffer, dst.byteOffset, count);
            for (let i = 0; i < count; i++)
                out[i] = f32ToF16Bits(src[i]!);
            break;
        }
        case GgmlType.Q8_0:
            quantizeQ8_0(src, count, dst);
            break;
    }

    return byteCount;
}

/** ggml's `quantize_row_q8_0_ref`: per block of 32, d = max|x| / 127, q = round(x / d). */
function quantizeQ8_0(src: Float32Array, count: number, dst: Uint8Array): void {
    const blocks = count / Q8_0_BLOCK_VALUES;
    for (let block = 0; block < blocks; block++) {
        const start = block * Q8_0_BLOCK_VALUES;
        const end = start + Q8_0_BLOCK_VALUES;
        let amax = 0;
        for (let i = start; i < end; i++) {
            const a = Math.abs(src[i]!);
            if (a > amax)
                amax = a;
        }

        const d = Math.fround(amax / 127);
        const inverse = d !== 0 ? Math.fround(1 / d) : 0;
        const dBits = f32ToF16Bits(d);
        let o = block * Q8_0_BLOCK_BYTES;
        dst[o++] = dBits & 0xff;
        dst[o++] = dBits >>> 8;
        for (let i = start; i < end; i++) {
            const v = src[i]! * inverse;
            // roundf: halves away from zero; the Int8 wrap is avoided by the clamp
            let q = v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
            if (q > 127)
                q = 127;
            else if (q < -128)
                q = -128;

            dst[o++] = q & 0xff;
        }
    }
}

/** Inverse of the Q8_0 encoding (for tests and checks): `values` floats from `src`. */
export function dequantizeQ8_0(src: Uint8Array, values: number): Float32Array {
    const out = new Float32Array(values);
    const blocks = values / Q8_0_BLOCK_VALUES;
    for (let block = 0; block < blocks; block++) {
        let o = block * Q8_0_BLOCK_BYTES;
        const d = f16BitsToF32(src[o]! | (src[o + 1]! << 8));
        o += 2;
        for (let j = 0; j < Q8_0_BLOCK_VALUES; j++) {
            const byte = src[o + j]!;
            out[block * Q8_0_BLOCK_VALUES + j] = d * (byte >= 128 ? byte - 256 : byte);
        }
    }

    return out;
}
