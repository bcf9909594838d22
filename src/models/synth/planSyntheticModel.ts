import { GgmlType } from "./ggmlEncoding.js";
import { type GgufMetadataValue, type GgufTensorSpec, GgufValueType, ggufValue } from "./GgufWriter.js";
import { buildSyntheticVocab } from "./buildSyntheticVocab.js";
import { synthChatTemplate } from "./synthChatTemplate.js";
import { type SynthPreset, type SynthQuant, fileTypeForQuant, ggmlTypeForQuant } from "./synthPresets.js";

/** Standard deviation of the random weights (uniform in ±std·√3). */
export const SYNTH_WEIGHT_STD = 0.02;
/**
 * The residual channel that carries a constant: embeddings put a positive value there, the layers
 * neither read it (its norm weights are 0) nor write it (their output rows for it are 0), so after
 * the final norm it is a positive constant-ish input to the output head. The output rows of
 * suppressed tokens weigh it with a large negative number, which acts as a logit bias.
 */
export const SYNTH_BIAS_CHANNEL = 0;
/** Output-head weight on the bias channel for suppressed tokens. */
export const SYNTH_SUPPRESS_WEIGHT = -64;

export interface SynthTensorRecipe extends GgufTensorSpec {
    /** `uniform`: seeded random values in ±`half`; `ones`: all 1. */
    readonly init: "uniform" | "ones";
    /** Overwrite values of rows [rowStart, rowStart + rowCount) (a row is ne[0] values) before encoding. */
    readonly patchRows?: (values: Float32Array, rowStart: number, rowCount: number) => void;
}

export interface SyntheticModelPlan {
    readonly metadata: ReadonlyArray<readonly [string, GgufMetadataValue]>;
    readonly tensors: readonly SynthTensorRecipe[];
    /** Half-width of the uniform distribution the random tensors draw from. */
    readonly weightHalfRange: number;
}

export interface PlanSyntheticModelOptions {
    readonly preset: SynthPreset;
    readonly presetName: string;
    readonly quant: SynthQuant;
    readonly seed: number;
    readonly contextLength: number;
    readonly name: string;
}

/** Everything about a synthetic model except the random numbers: metadata and tensor recipes. */
export function planSyntheticModel(options: PlanSyntheticModelOptions): SyntheticModelPlan {
    const { preset, quant } = options;
    const embd = preset.embeddingLength;
    const ff = preset.feedForwardLength;
    const headDim = embd / preset.headCount;
    if (!Number.isInteger(headDim) || preset.headCount % preset.headCountKv !== 0)
        throw new RangeError("Head counts must divide the embedding length and each other");

    const kvDim = headDim * preset.headCountKv;
    const vocab = buildSyntheticVocab(preset.vocabSize);
    const weightType = ggmlTypeForQuant(quant);
    const half = SYNTH_WEIGHT_STD * Math.sqrt(3);
    const channelValue = half * Math.sqrt(embd);
    const suppressed = new Set(vocab.suppressedIds);

    const metadata: Array<readonly [string, GgufMetadataValue]> = [
        ["general.architecture", ggufValue.string("llama")],
        ["general.type", ggufValue.string("model")],
        ["general.name", ggufValue.string(options.name)],
        ["general.file_type", ggufValue.uint32(fileTypeForQuant(quant))],
        ...(weightType === GgmlType.Q8_0
            ? [["general.quantization_version", ggufValue.uint32(2)] as const]
            : []),
        ["llama.vocab_size", ggufValue.uint32(preset.vocabSize)],
        ["llama.context_length", ggufValue.uint32(options.contextLength)],
        ["llama.embedding_length", ggufValue.uint32(embd)],
        ["llama.block_count", ggufValue.uint32(preset.blockCount)],
        ["llama.feed_forward_length", ggufValue.uint32(ff)],
        ["llama.rope.dimension_count", ggufValue.uint32(headDim)],
        ["llama.rope.freq_base", ggufValue.float32(preset.ropeFreqBase)],
        ["llama.attention.head_count", ggufValue.uint32(preset.headCount)],
        ["llama.attention.head_count_kv", ggufValue.uint32(preset.headCountKv)],
        ["llama.attention.layer_norm_rms_epsilon", ggufValue.float32(preset.rmsNormEpsilon)],
        ["tokenizer.ggml.model", ggufValue.string("llama")],
        ["tokenizer.ggml.tokens", ggufValue.array(GgufValueType.String, vocab.tokens)],
        ["tokenizer.ggml.scores", ggufValue.array(GgufValueType.Float32, vocab.scores)],
        ["tokenizer.ggml.token_type", ggufValue.array(GgufValueType.Int32, vocab.types)],
        ["tokenizer.ggml.bos_token_id", ggufValue.uint32(vocab.bosId)],
        ["tokenizer.ggml.eos_token_id", ggufValue.uint32(vocab.eosId)],
        ["tokenizer.ggml.eot_token_id", ggufValue.uint32(vocab.imEndId)],
        ["tokenizer.ggml.unknown_token_id", ggufValue.uint32(vocab.unkId)],
        ["tokenizer.ggml.add_bos_token", ggufValue.bool(true)],
        ["tokenizer.ggml.add_eos_token", ggufValue.bool(false)],
        ["tokenizer.ggml.add_space_prefix", ggufValue.bool(true)],
        ["tokenizer.chat_template", ggufValue.string(synthChatTemplate)],
        ["mentator.synthetic.preset", ggufValue.string(options.presetName)],
        ["mentator.synthetic.seed", ggufValue.uint64(options.seed)]
    ];

    const matrix = (name: string, ne0: number, ne1: number,
        patchRows?: SynthTensorRecipe["patchRows"]): SynthTensorRecipe =>
        ({ name, dims: [ne0, ne1], type: weightType, init: "uniform", patchRows });
    const norm = (name: string, blindToBiasChannel: boolean): SynthTensorRecipe => ({
        name,
        dims: [embd],
        type: GgmlType.F32,
        init: "ones",
        patchRows: blindToBiasChannel
            ? (values) => void (values[SYNTH_BIAS_CHANNEL] = 0)
            : undefined
    });
    // Rows are output features: zeroing row SYNTH_BIAS_CHANNEL keeps a layer off the bias channel.
    const zeroBiasRow = (values: Float32Array, rowStart: number, rowCount: number, ne0: number): void => {
        const row = SYNTH_BIAS_CHANNEL - rowStart;
        if (row >= 0 && row < rowCount)
            values.fill(0, row * ne0, (row + 1) * ne0);
    };

    const tensors: SynthTensorRecipe[] = [
        matrix("token_embd.weight", embd, preset.vocabSize, (values, rowStart, rowCount) => {
            for (let row = 0; row < rowCount; row++)
                values[row * embd + SYNTH_BIAS_CHANNEL] = channelValue;
        }),
        norm("output_norm.weight", false),
        matrix("output.weight", embd, preset.vocabSize, (values, rowStart, rowCount) => {
            for (let row = 0; row < rowCount; row++) {
                if (suppressed.has(rowStart + row))
                    values[row * embd + SYNTH_BIAS_CHANNEL] = SYNTH_SUPPRESS_WEIGHT;
            }
        })
    ];
    for (let layer = 0; layer < preset.blockCount; layer++) {
        const prefix = `blk.${layer}.`;
        tensors.push(
            norm(prefix + "attn_norm.weight", true),
            matrix(prefix + "attn_q.weight", embd, embd),
            matrix(prefix + "attn_k.weight", embd, kvDim),
            matrix(prefix + "attn_v.weight", embd, kvDim),
            matrix(prefix + "attn_output.weight", embd, embd,
                (values, rowStart, rowCount) => zeroBiasRow(values, rowStart, rowCount, embd)),
            norm(prefix + "ffn_norm.weight", true),
            matrix(prefix + "ffn_gate.weight", embd, ff),
            matrix(prefix + "ffn_up.weight", embd, ff),
            matrix(prefix + "ffn_down.weight", ff, embd,
                (values, rowStart, rowCount) => zeroBiasRow(values, rowStart, rowCount, ff))
        );
    }

    return { metadata, tensors, weightHalfRange: half };
}
