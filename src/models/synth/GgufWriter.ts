import fs from "node:fs/promises";
import { GgmlType, ggmlTensorByteSize } from "./ggmlEncoding.js";

export const GGUF_MAGIC = "GGUF";
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_NAME is 64 including the terminating NUL. */
export const GGUF_MAX_TENSOR_NAME_BYTES = 63;
/** ggml's GGML_MAX_DIMS. */
export const GGUF_MAX_DIMS = 4;

/** GGUF metadata value types (`gguf_type`). */
export enum GgufValueType {
    Uint8 = 0,
    Int8 = 1,
    Uint16 = 2,
    Int16 = 3,
    Uint32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    Uint64 = 10,
    Int64 = 11,
    Float64 = 12
}

type NumberValueType = GgufValueType.Uint8 | GgufValueType.Int8 | GgufValueType.Uint16 | GgufValueType.Int16 |
    GgufValueType.Uint32 | GgufValueType.Int32 | GgufValueType.Float32 | GgufValueType.Float64;
type BigValueType = GgufValueType.Uint64 | GgufValueType.Int64;
export type GgufArrayItemType = Exclude<GgufValueType, GgufValueType.Array>;
export type GgufScalar = number | bigint | boolean | string;

export type GgufMetadataValue =
    | { readonly type: NumberValueType; readonly value: number }
    | { readonly type: BigValueType; readonly value: number | bigint }
    | { readonly type: GgufValueType.Bool; readonly value: boolean }
    | { readonly type: GgufValueType.String; readonly value: string }
    | { readonly type: GgufValueType.Array; readonly itemType: GgufArrayItemType; readonly value: readonly GgufScalar[] };

/** Shorthands for typed metadata values: `ggufValue.uint32(4096)`. */
export const ggufValue = {
    uint8: (value: number): GgufMetadataValue => ({ type: GgufValueType.Uint8, value }),
    int8: (value: number): GgufMetadataValue => ({ type: GgufValueType.Int8, value }),
    uint16: (value: number): GgufMetadataValue => ({ type: GgufValueType.Uint16, value }),
    int16: (value: number): GgufMetadataValue => ({ type: GgufValueType.Int16, value }),
    uint32: (value: number): GgufMetadataValue => ({ type: GgufValueType.Uint32, value }),
    int32: (value: number): GgufMetadataValue => ({ type: GgufValueType.Int32, value }),
    float32: (value: number): GgufMetadataValue => ({ type: GgufValueType.Float32, value }),
    float64: (value: number): GgufMetadataValue => ({ type: GgufValueType.Float64, value }),
    uint64: (value: number | bigint): GgufMetadataValue => ({ type: GgufValueType.Uint64, value }),
    int64: (value: number | bigint): GgufMetadataValue => ({ type: GgufValueType.Int64, value }),
    bool: (value: boolean): GgufMetadataValue => ({ type: GgufValueType.Bool, value }),
    string: (value: string): GgufMetadataValue => ({ type: GgufValueType.String, value }),
    array: (itemType: GgufArrayItemType, value: readonly GgufScalar[]): GgufMetadataValue =>
        ({ type: GgufValueType.Array, itemType, value })
} as const;

export interface GgufTensorSpec {
    /** At most 63 UTF-8 bytes. */
    readonly name: string;
    /** Dimensions, ne[0] (the contiguous one) first; 1 to 4 of them. */
    readonly dims: readonly number[];
    readonly type: GgmlType;
}

export interface GgufWriterOptions {
    /**
     * Alignment of the tensor data section and of every tensor in it, a power of two.
     * `general.alignment` is added to the metadata when it differs from GGUF's default.
     *
     * Defaults to `32`.
     */
    alignment?: number;
}

interface PlannedTensor extends GgufTensorSpec {
    readonly offset: number;
    readonly byteSize: number;
}

type WriterState = "collecting" | "writingData" | "finished" | "aborted";

/**
 * Writes a GGUF v3 file front to back: collect metadata and tensor descriptions, write the header,
 * then stream each tensor's bytes in the declared order. Tensor data is never held by the writer.
 */
export class GgufWriter {
    private readonly metadata = new Map<string, GgufMetadataValue>();
    private readonly tensors: PlannedTensor[] = [];
    private readonly tensorNames = new Set<string>();
    private dataSize = 0;
    private dataStart = 0;
    private position = 0;
    private nextTensor = 0;
    private state: WriterState = "collecting";

    private constructor(
        private readonly handle: fs.FileHandle,
        public readonly path: string,
        public readonly alignment: number
    ) {}

    /** Create `path` (which must not exist yet) for writing. */
    public static async create(path: string, options: GgufWriterOptions = {}): Promise<GgufWriter> {
        const alignment = options.alignment ?? GGUF_DEFAULT_ALIGNMENT;
        if (!Number.isInteger(alignment) || alignment < 1 || alignment > 2 ** 30 || (alignment & (alignment - 1)) !== 0)
            throw new RangeError(`GGUF alignment must be a power of two, got ${alignment}`);

        const handle = await fs.open(path, "wx");
        return new GgufWriter(handle, path, alignment);
    }

    /** Bytes written to the file so far. */
    public get bytesWritten(): number {
        return this.position;
    }

    /** Size the finished file will have; known once the header is written. */
    public get expectedFileSize(): number {
        return this.dataStart + this.dataSize;
    }

    public get tensorCount(): number {
        return this.tensors.length;
    }

    public addMetadata(key: string, value: GgufMetadataValue): void {
        this.assertState("collecting", "add metadata");
        if (key.length === 0)
            throw new TypeError("GGUF metadata key must not be empty");
        if (this.metadata.has(key))
            throw new Error(`Duplicate GGUF metadata key "${key}"`);

        encodeMetadataEntry(key, value); // validate now, where the caller can see which key is wrong
        this.metadata.set(key, value);
    }

    public addTensor(spec: GgufTensorSpec): void {
        this.assertState("collecting", "add a tensor");
        const nameBytes = Buffer.byteLength(spec.name, "utf8");
        if (nameBytes === 0 || nameBytes > GGUF_MAX_TENSOR_NAME_BYTES)
            throw new RangeError(`Tensor name "${spec.name}" must be 1 to ${GGUF_MAX_TENSOR_NAME_BYTES} bytes`);
        if (this.tensorNames.has(spec.name))
            throw new Error(`Duplicate tensor name "${spec.name}"`);
        if (spec.dims.length < 1 || spec.dims.length > GGUF_MAX_DIMS)
            throw new RangeError(`Tensor "${spec.name}" must have 1 to ${GGUF_MAX_DIMS} dimensions`);
        for (const dim of spec.dims) {
            if (!Number.isSafeInteger(dim) || dim < 1)
                throw new RangeError(`Tensor "${spec.name}" has an invalid dimension ${dim}`);
        }

        let byteSize: number;
        try {
            byteSize = ggmlTensorByteSize(spec.type, spec.dims);
        } catch (err) {
            throw new RangeError(`Tensor "${spec.name}": ${(err as Error).message}`);
        }

        this.tensors.push({ name: spec.name, dims: [...spec.dims], type: spec.type, offset: this.dataSize, byteSize });
        this.tensorNames.add(spec.name);
        this.dataSize += alignUp(byteSize, this.alignment);
    }

    /** Write magic, counts, metadata and tensor infos, padded to the alignment. */
    public async writeHeader(): Promise<void> {
        this.assertState("collecting", "write the header");
        if (this.alignment !== GGUF_DEFAULT_ALIGNMENT && !this.metadata.has("general.alignment"))
            this.metadata.set("general.alignment", ggufValue.uint32(this.alignment));

        const alignmentValue = this.metadata.get("general.alignment");
        if (alignmentValue != null &&
            (alignmentValue.type !== GgufValueType.Uint32 || alignmentValue.value !== this.alignment))
            throw new Error(`"general.alignment" must be a uint32 equal to the writer's alignment (${this.alignment})`);

        const parts: Buffer[] = [];
        const fixed = Buffer.alloc(24);
        fixed.write(GGUF_MAGIC, 0, "latin1");
        fixed.writeUInt32LE(GGUF_VERSION, 4);
        fixed.writeBigUInt64LE(BigInt(this.tensors.length), 8);
        fixed.writeBigUInt64LE(BigInt(this.metadata.size), 16);
        parts.push(fixed);

        for (const [key, value] of this.metadata)
            parts.push(encodeMetadataEntry(key, value));

        for (const tensor of this.tensors)
            parts.push(encodeTensorInfo(tensor));

        let header = Buffer.concat(parts);
        const padded = alignUp(header.length, this.alignment);
        if (padded !== header.length)
            header = Buffer.concat([header, Buffer.alloc(padded - header.length)]);

        this.state = "writingData";
        await this.writeAt(header);
        this.dataStart = this.position;
    }

    /**
     * Stream the next tensor's bytes (tensors are written in the order they were added).
     * Up to one chunk is being written while the next is produced, so a producer that reuses
     * buffers must alternate at least two of them.
     */
    public async writeTensorData(name: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
        this.assertState("writingData", "write tensor data");
        const tensor = this.tensors[this.nextTensor];
        if (tensor == null)
            throw new Error(`All ${this.tensors.length} tensors are already written; got more data for "${name}"`);
        if (tensor.name !== name)
            throw new Error(`Expected data for tensor "${tensor.name}" next, got "${name}"`);

        const start = this.dataStart + tensor.offset;
        if (this.position !== start)
            throw new Error(`Internal error: tensor "${name}" would start at ${this.position}, expected ${start}`);

        let written = 0;
        let inFlight: Promise<void> | undefined;
        try {
            for await (const chunk of chunks) {
                if (chunk.byteLength === 0)
                    continue;
                if (written + chunk.byteLength > tensor.byteSize)
                    throw new RangeError(`Tensor "${name}" got more than its ${tensor.byteSize} bytes`);
                if (inFlight != null)
                    await inFlight;

                inFlight = this.writeAt(chunk);
                written += chunk.byteLength;
            }
        } finally {
            if (inFlight != null)
                await inFlight;
        }

        if (written !== tensor.byteSize)
            throw new RangeError(`Tensor "${name}" got ${written} bytes, expected ${tensor.byteSize}`);

        const padding = alignUp(written, this.alignment) - written;
        if (padding > 0)
            await this.writeAt(Buffer.alloc(padding));

        this.nextTensor++;
    }

    /** Close the file after checking every tensor was written. Returns the file size. */
    public async finish(): Promise<{ sizeBytes: number }> {
        this.assertState("writingData", "finish");
        if (this.nextTensor !== this.tensors.length)
            throw new Error(`Only ${this.nextTensor} of ${this.tensors.length} tensors were written`);
        if (this.position !== this.expectedFileSize)
            throw new Error(`Internal error: wrote ${this.position} bytes, expected ${this.expectedFileSize}`);

        await this.handle.sync();
        await this.handle.close();
        this.state = "finished";
        return { sizeBytes: this.position };
    }

    /** Close the file without finishing it; the caller removes the partial file. */
    public async abort(): Promise<void> {
        if (this.state === "finished" || this.state === "aborted")
            return;

        this.state = "aborted";
        await this.handle.close();
    }

    private assertState(expected: WriterState, action: string): void {
        if (this.state !== expected)
            throw new Error(`Cannot ${action}: the GGUF writer is ${this.state}`);
    }

    // Writes are sequential: `position` advances before the write settles so a second
    // write (issued only after the first resolves) lands right after it.
    private async writeAt(data: Uint8Array): Promise<void> {
        const position = this.position;
        this.position += data.byteLength;
        let done = 0;
        while (done < data.byteLength) {
            const { bytesWritten } = await this.handle.write(data, done, data.byteLength - done, position + done);
            if (bytesWritten <= 0)
                throw new Error(`Write to ${this.path} made no progress`);

            done += bytesWritten;
        }
    }
}

export function alignUp(value: number, alignment: number): number {
    const rest = value % alignment;
    return rest === 0 ? value : value + alignment - rest;
}

/** One metadata key/value pair as it appears in the file. Throws on out-of-range values. */
export function encodeMetadataEntry(key: string, value: GgufMetadataValue): Buffer {
    const out = new ByteSink();
    out.string(key);
    out.u32(value.type);
    try {
        if (value.type === GgufValueType.Array) {
            if ((value.itemType as GgufValueType) === GgufValueType.Array)
                throw new TypeError("nested arrays are not supported");

            out.u32(value.itemType);
            out.u64(value.value.length);
            for (const item of value.value)
                out.scalar(value.itemType, item);
        } else
            out.scalar(value.type, value.value);
    } catch (err) {
        throw new TypeError(`GGUF metadata "${key}": ${(err as Error).message}`);
    }

    return out.toBuffer();
}

function encodeTensorInfo(tensor: PlannedTensor): Buffer {
    const out = new ByteSink();
    out.string(tensor.name);
    out.u32(tensor.dims.length);
    for (const dim of tensor.dims)
        out.u64(dim);

    out.u32(tensor.type);
    out.u64(tensor.offset);
    return out.toBuffer();
}

const integerRanges: Partial<Record<GgufValueType, readonly [number, number]>> = {
    [GgufValueType.Uint8]: [0, 0xff],
    [GgufValueType.Int8]: [-0x80, 0x7f],
    [GgufValueType.Uint16]: [0, 0xffff],
    [GgufValueType.Int16]: [-0x8000, 0x7fff],
    [GgufValueType.Uint32]: [0, 0xffffffff],
    [GgufValueType.Int32]: [-0x80000000, 0x7fffffff]
};

/** A growable little-endian byte buffer for header pieces. */
class ByteSink {
    private buffer = Buffer.allocUnsafe(256);
    private length = 0;

    public toBuffer(): Buffer {
        return this.buffer.subarray(0, this.length);
    }

    public u32(value: number): void {
        this.reserve(4).writeUInt32LE(value, this.length - 4);
    }

    public u64(value: number | bigint): void {
        this.reserve(8).writeBigUInt64LE(BigInt(value), this.length - 8);
    }

    public string(value: string): void {
        const byteLength = Buffer.byteLength(value, "utf8");
        this.u64(byteLength);
        this.reserve(byteLength).write(value, this.length - byteLength, byteLength, "utf8");
    }

    public scalar(type: GgufArrayItemType, value: GgufScalar): void {
        switch (type) {
            case GgufValueType.String:
                if (typeof value !== "string")
                    throw new TypeError(`expected a string, got ${typeof value}`);
                this.string(value);
                return;
            case GgufValueType.Bool:
                if (typeof value !== "boolean")
                    throw new TypeError(`expected a boolean, got ${typeof value}`);
                this.reserve(1)[this.length - 1] = value ? 1 : 0;
                return;
            case GgufValueType.Float32:
            case GgufValueType.Float64: {
                if (typeof value !== "number")
                    throw new TypeError(`expected a number, got ${typeof value}`);
                if (type === GgufValueType.Float32)
                    this.reserve(4).writeFloatLE(value, this.length - 4);
                else
                    this.reserve(8).writeDoubleLE(value, this.length - 8);
                return;
            }
            case GgufValueType.Uint64:
            case GgufValueType.Int64: {
                if (typeof value !== "number" && typeof value !== "bigint")
                    throw new TypeError(`expected an integer, got ${typeof value}`);
                if (typeof value === "number" && !Number.isSafeInteger(value))
                    throw new RangeError(`${value} is not a safe integer (pass a bigint)`);
                const big = BigInt(value);
                const [min, max] = type === GgufValueType.Uint64
                    ? [0n, 0xffffffffffffffffn]
                    : [-0x8000000000000000n, 0x7fffffffffffffffn];
                if (big < min || big > max)
                    throw new RangeError(`${big} is out of range for ${GgufValueType[type]}`);
                if (type === GgufValueType.Uint64)
                    this.reserve(8).writeBigUInt64LE(big, this.length - 8);
                else
                    this.reserve(8).writeBigInt64LE(big, this.length - 8);
                return;
            }
            default: {
                const range = integerRanges[type];
                if (range == null)
                    throw new TypeError(`unsupported value type ${type}`);
                if (typeof value !== "number" || !Number.isInteger(value))
                    throw new TypeError(`expected an integer, got ${String(value)}`);
                if (value < range[0] || value > range[1])
                    throw new RangeError(`${value} is out of range for ${GgufValueType[type]}`);
                this.integer(type, value);
            }
        }
    }

    private integer(type: GgufArrayItemType, value: number): void {
        switch (type) {
            case GgufValueType.Uint8: this.reserve(1).writeUInt8(value, this.length - 1); break;
            case GgufValueType.Int8: this.reserve(1).writeInt8(value, this.length - 1); break;
            case GgufValueType.Uint16: this.reserve(2).writeUInt16LE(value, this.length - 2); break;
            case GgufValueType.Int16: this.reserve(2).writeInt16LE(value, this.length - 2); break;
            case GgufValueType.Uint32: this.reserve(4).writeUInt32LE(value, this.length - 4); break;
            case GgufValueType.Int32: this.reserve(4).writeInt32LE(value, this.length - 4); break;
            default: throw new TypeError(`unsupported integer type ${type}`);
        }
    }

    /** Grow so `bytes` more fit, advance the length, and return the buffer to write into. */
    private reserve(bytes: number): Buffer {
        const needed = this.length + bytes;
        if (needed > this.buffer.length) {
            const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
            this.buffer.copy(grown, 0, 0, this.length);
            this.buffer = grown;
        }
        this.length = needed;
        return this.buffer;
    }
}
