import { GenerationStreamReader } from "../openAiCompat/GenerationStreamReader.js";
import type { OpenAiCompatClient } from "../openAiCompat/OpenAiCompatClient.js";
import { parseEmbeddings } from "../openAiCompat/parseEmbeddings.js";
import { toChatCompletionBody, toCompletionBody } from "../openAiCompat/toOpenAiBodies.js";
import type {
    ChatGenerationRequest,
    EmbeddingResult,
    GenerationCallbacks,
    GenerationResult,
    LoadedModel,
    LoadedModelInfo,
    TextGenerationRequest
} from "../types.js";

/**
 * A model served by another OpenAI-compatible server. Requests pass through with only the fields the client
 * set; streams are re-framed into our deltas. The upstream checks context length and formats itself.
 */
export class UpstreamModel implements LoadedModel {
    public readonly id: string;
    public readonly info: LoadedModelInfo;
    private readonly baseUrl: string;
    private readonly upstreamModel: string;
    private readonly client: OpenAiCompatClient;
    private readonly onDispose: () => void;

    public constructor(options: { id: string; info: LoadedModelInfo; baseUrl: string; upstreamModel: string; client: OpenAiCompatClient; onDispose: () => void }) {
        this.id = options.id;
        this.info = options.info;
        this.baseUrl = options.baseUrl;
        this.upstreamModel = options.upstreamModel;
        this.client = options.client;
        this.onDispose = options.onDispose;
    }

    public chat(request: ChatGenerationRequest, callbacks: GenerationCallbacks, signal: AbortSignal): Promise<GenerationResult> {
        const body = toChatCompletionBody(request, { dialect: "openai", model: this.upstreamModel });
        return this.client.generate(`${this.baseUrl}/chat/completions`, body, new GenerationStreamReader(callbacks), signal, callbacks.streamed === true);
    }

    public complete(request: TextGenerationRequest, callbacks: GenerationCallbacks, signal: AbortSignal): Promise<GenerationResult> {
        const body = toCompletionBody(request, { dialect: "openai", model: this.upstreamModel });
        return this.client.generate(`${this.baseUrl}/completions`, body, new GenerationStreamReader(callbacks), signal, callbacks.streamed === true);
    }

    public async embed(inputs: string[], signal: AbortSignal): Promise<EmbeddingResult> {
        const answer = await this.client.call(`${this.baseUrl}/embeddings`, { model: this.upstreamModel, input: inputs }, signal);
        return parseEmbeddings(this.id, answer, inputs.length, "the upstream");
    }

    public async dispose(): Promise<void> {
        this.onDispose();
    }
}
