/** llama.cpp's `llama_token_type` values, as stored in `tokenizer.ggml.token_type`. */
export enum SynthTokenType {
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6
}

export interface SyntheticVocab {
    readonly tokens: readonly string[];
    readonly scores: readonly number[];
    readonly types: readonly SynthTokenType[];
    readonly unkId: number;
    readonly bosId: number;
    readonly eosId: number;
    readonly imStartId: number;
    readonly imEndId: number;
    /**
     * Ids the synthetic weights make (practically) impossible to sample: control tokens, byte tokens.
     * Generated text is then printable ASCII, and never ends by itself before `maxTokens`.
     */
    readonly suppressedIds: readonly number[];
}

/** SentencePiece's word-boundary marker; "▁the" detokenizes to " the". */
export const SPM_SPACE = "\u2581";

// Common English words: sampled often in small vocabularies, so generated text reads like words.
const commonWords = (
    "the of and to a in is it you that he was for on are with as I his they be at one have this from " +
    "or had by hot word but what some we can out other were all there when up use your how said an each " +
    "she which do their time if will way about many then them write would like so these her long make " +
    "thing see him two has look more day could go come did number sound no most people my over know " +
    "water than call first who may down side been now find any new work part take get place made live " +
    "where after back little only round man year came show every good me give our under name very " +
    "through just form great think say help low line turn cause much mean before move right boy old too " +
    "same tell does set three want air well also play small end put home read hand port large spell add " +
    "even land here must big high such follow act why ask men change went light kind off need house " +
    "picture try us again animal point mother world near build self earth father head stand own page " +
    "should country found answer school grow study still learn plant cover food sun four thought let keep " +
    "eye never last door between city tree cross since hard start might story saw far sea draw left late " +
    "run while press close night real life few stop open seem together next white children begin got walk " +
    "example ease paper often always music those both mark book letter until mile river car feet care " +
    "second group carry took rain eat room friend began idea fish mountain north once base hear horse cut " +
    "sure watch color face wood main enough plain girl usual young ready above ever red list though feel " +
    "talk bird soon body dog family direct pose leave song measure state product black short numeral " +
    "class wind question happen complete ship area half rock order fire south problem piece told knew " +
    "pass farm top whole king size heard best hour better true during hundred am remember step early " +
    "hold west ground interest reach fast five sing listen six table travel less morning ten simple " +
    "several vowel toward war lay against pattern slow center love person money serve appear road map " +
    "science rule govern pull cold notice voice fall power town fine certain fly unit lead cry dark " +
    "machine note wait plan figure star box noun field rest correct able pound done beauty drive stood " +
    "contain front teach week final gave green oh quick develop sleep warm free minute strong special " +
    "mind behind clear tail produce fact street inch lot nothing course stay wheel full force blue object " +
    "decide surface deep moon island foot yet busy test record boat common gold possible plane age dry " +
    "wonder laugh thousand ago ran check game shape yes cool miss brought heat snow bed bring sit perhaps " +
    "fill east weight language among model token text data hello"
).split(" ");

const consonants = "bcdfghjklmnprstvwz";
const vowels = "aeiou";

/**
 * A SentencePiece-style ("llama" tokenizer model) vocabulary of exactly `size` tokens:
 * <unk>, <s>, </s>, the 256 byte tokens, <|im_start|>, <|im_end|>, then printable filler:
 * "▁", the printable ASCII characters, common words with their "▁" prefixes, and pronounceable
 * pseudo-words ("▁bako", "reti") built from consonant-vowel syllables. Every filler token can be
 * reached by llama.cpp's SPM merges, and scores favour earlier (shorter, commoner) tokens.
 */
export function buildSyntheticVocab(size: number): SyntheticVocab {
    // Byte tokens at ids 3..258, as in Llama 2's vocabulary.
    const tokens: string[] = ["<unk>", "<s>", "</s>"];
    const types: SynthTokenType[] = [SynthTokenType.Unknown, SynthTokenType.Control, SynthTokenType.Control];
    for (let byte = 0; byte < 256; byte++) {
        tokens.push(`<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`);
        types.push(SynthTokenType.Byte);
    }

    const imStartId = tokens.length;
    tokens.push("<|im_start|>", "<|im_end|>");
    types.push(SynthTokenType.Control, SynthTokenType.Control);
    const firstNormalId = tokens.length;
    if (size < firstNormalId + 1)
        throw new RangeError(`Vocabulary size must be at least ${firstNormalId + 1}, got ${size}`);

    const seen = new Set(tokens);
    const add = (token: string): boolean => {
        if (tokens.length >= size)
            return false;
        if (!seen.has(token)) {
            seen.add(token);
            tokens.push(token);
            types.push(SynthTokenType.Normal);
        }
        return tokens.length < size;
    };

    for (const token of fillerTokens()) {
        if (!add(token))
            break;
    }
    if (tokens.length < size)
        throw new RangeError(`Vocabulary size ${size} is larger than this generator can fill`);

    const suppressedIds: number[] = [];
    for (let id = 0; id < firstNormalId; id++)
        suppressedIds.push(id);

    return {
        tokens,
        // SPM merges the pair whose merged token scores highest: favour earlier tokens.
        scores: tokens.map((_, id) => (id < firstNormalId ? 0 : -(id - firstNormalId))),
        types,
        unkId: 0,
        bosId: 1,
        eosId: 2,
        imStartId,
        imEndId: imStartId + 1,
        suppressedIds
    };
}

function* fillerTokens(): Generator<string> {
    yield SPM_SPACE;
    for (let code = 0x21; code <= 0x7e; code++)
        yield String.fromCharCode(code);

    // Each word after its prefixes, so SPM can merge it step by step ("▁t", "▁th", "▁the").
    for (const word of commonWords) {
        const spaced = SPM_SPACE + word;
        for (let end = 2; end <= spaced.length; end++)
            yield spaced.slice(0, end);
    }

    const syllables: string[] = [];
    for (const c of consonants) {
        for (const v of vowels)
            syllables.push(c + v);
    }

    // Pseudo-words of 1, 2, 3... syllables, each with and without the space marker. A word's
    // left part (one syllable shorter) always comes earlier, so merges can build it.
    let words = [""];
    for (let length = 1; length <= 3; length++) {
        const longer: string[] = [];
        for (const prefix of words) {
            for (const syllable of syllables)
                longer.push(prefix + syllable);
        }
        for (const word of longer)
            yield SPM_SPACE + word;
        for (const word of longer)
            yield word;
        words = longer;
    }
}
