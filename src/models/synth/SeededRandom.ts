/**
 * Marsaglia's xorshift128: fast, 2^128 - 1 period, fully determined by (seed, stream).
 * Used for synthetic weights, where speed and reproducibility matter and quality hardly does.
 */
export class SeededRandom {
    private x: number;
    private y: number;
    private z: number;
    private w: number;

    /**
     * @param seed - a safe non-negative integer
     * @param stream - an independent sub-sequence index (e.g. the tensor index)
     */
    public constructor(seed: number, stream = 0) {
        if (!Number.isSafeInteger(seed) || seed < 0)
            throw new RangeError(`Seed must be a non-negative safe integer, got ${seed}`);

        // splitmix32 spreads (seed, stream) over the four state words; never all zero.
        let s = mix32((seed >>> 0) ^ mix32(Math.floor(seed / 2 ** 32) ^ 0x9e3779b9) ^ mix32(stream + 0x632be5ab));
        const next = (): number => {
            s = (s + 0x9e3779b9) | 0;
            return mix32(s);
        };
        this.x = next();
        this.y = next();
        this.z = next();
        this.w = next() | 1;
    }

    /** A uniformly distributed unsigned 32-bit integer. */
    public nextUint32(): number {
        const t = this.x ^ (this.x << 11);
        this.x = this.y;
        this.y = this.z;
        this.z = this.w;
        this.w = (this.w ^ (this.w >>> 19) ^ (t ^ (t >>> 8))) | 0;
        return this.w >>> 0;
    }

    /** Fill `out[0..count)` with values uniform in [-half, half). */
    public fillUniform(out: Float32Array, count: number, half: number): void {
        // The state lives in locals for the loop: this is the hot path of model writing.
        let x = this.x, y = this.y, z = this.z, w = this.w;
        const scale = half / 2 ** 31;
        for (let i = 0; i < count; i++) {
            const t = x ^ (x << 11);
            x = y;
            y = z;
            z = w;
            w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) | 0;
            out[i] = w * scale;
        }
        this.x = x;
        this.y = y;
        this.z = z;
        this.w = w;
    }
}

function mix32(value: number): number {
    let h = value | 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) | 0;
}
