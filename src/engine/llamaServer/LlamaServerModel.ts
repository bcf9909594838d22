import { ContextLengthExceededError, EngineRequestError, EngineUnavailableError, UnsupportedRequestError } from "../engineErrors.js";
import { GenerationStreamReader } from "../openAiCompat/GenerationStreamReader.js";
import { OpenAiCompatClient, type ConnectionPhase } from "../openAiCompat/OpenAiCompatClient.js";
import { parseEmbeddings } from "../openAiCompat/parseEmbeddings.js";
import { toChatCompletionBody, toCompletionBody } from "../openAiCompat/toOpenAiBodies.js";
import type {
    ChatGenerationRequest,
    EmbeddingResult,
    GenerationCallbacks,
    GenerationResult,
    LoadedModel,
    LoadedModelInfo,
    ModelLoadSpec,
    TextGenerationRequest
} from "../types.js";
import type { LlamaServerProcess } from "./LlamaServerProcess.js";

type Json = Record<string, unknown>;

export interface LlamaServerModelOptions {
    id: string;
    spec: ModelLoadSpec;
    /** The started generation process. */
    process: LlamaServerProcess;
    parallel: number;
    /** Makes the embeddings process (llama-server serves embeddings only with --embeddings); started on first use. */
    embeddingProcess: () => LlamaServerProcess;
    onDispose: () => void;
}

/** A network failure on a process that died meanwhile: retried once when nothing was generated yet. */
class ProcessGoneError extends Error {
    public readonly phase: ConnectionPhase;

    public constructor(message: string, phase: ConnectionPhase) {
        super(message);
        this.phase = phase;
    }
}

/**
 * A model served by a managed llama-server. Chat goes to /v1/chat/completions (its Jinja templates, tool
 * calls and JSON-schema grammars), text to /v1/completions, embeddings to a second process started on
 * first use. Its stream is re-framed into our deltas; usage and finish reasons are its own, which are exact.
 */
export class LlamaServerModel implements LoadedModel {
    public readonly id: string;
    public readonly info: LoadedModelInfo;
    private readonly options: LlamaServerModelOptions;
    private readonly process: LlamaServerProcess;
    private embeddings?: Promise<LlamaServerProcess>;
    private embeddingsProcess?: LlamaServerProcess;
    private disposed = false;

    private constructor(options: LlamaServerModelOptions, info: LoadedModelInfo) {
        this.options = options;
        this.id = options.id;
        this.process = options.process;
        this.info = info;
    }

    /** Reads what the started process reports (slot context, training context) into the model info. */
    public static async create(options: LlamaServerModelOptions): Promise<LlamaServerModel> {
        const signal = AbortSignal.timeout(30_000);
        const { url } = await options.process.endpoint(signal);
        const client = new OpenAiCompatClient({ modelId: options.id, peer: "llama-server" });
        const props = await getJson(`${url}/props`, signal);
        const models = await getJson(`${url}/v1/models`, signal).catch(() => ({}) as Json);
        const settings = (props.default_generation_settings ?? {}) as Json;
        const slotContext = typeof settings.n_ctx === "number" ? settings.n_ctx : options.spec.contextSize;
        const meta = ((Array.isArray(models.data) ? models.data[0] : undefined) as Json | undefined)?.meta as Json | undefined;
        void client;
        return new LlamaServerModel(options, {
            contextSize: slotContext,
            parallel: typeof props.total_slots === "number" ? props.total_slots : options.parallel,
            trainedContextSize: typeof meta?.n_ctx_train === "number" ? meta.n_ctx_train : undefined,
            embeddingSize: typeof meta?.n_embd === "number" ? meta.n_embd : undefined,
            hasChatTemplate: typeof props.chat_template === "string" && props.chat_template !== ""
        });
    }

    /** The generation process's pid (tests kill it to check crash handling). */
    public get pid(): number | undefined {
        return this.process.pid;
    }

    public chat(request: ChatGenerationRequest, callbacks: GenerationCallbacks, signal: AbortSignal): Promise<GenerationResult> {
        checkToolChoice(request);
        const body = {
            ...toChatCompletionBody(request, { dialect: "llama-server" }),
            // Thoughts stay in the text, as the in-process engine returns them.
            reasoning_format: "none"
        };
        return this.generate("/v1/chat/completions", body, callbacks, signal);
    }

    public complete(request: TextGenerationRequest, callbacks: GenerationCallbacks, signal: AbortSignal): Promise<GenerationResult> {
        return this.generate("/v1/completions", toCompletionBody(request, { dialect: "llama-server" }), callbacks, signal);
    }

    public async embed(inputs: string[], signal: AbortSignal): Promise<EmbeddingResult> {
        const process = await this.embeddingServer(signal);
        const { url, generation } = await process.endpoint(signal);
        const client = this.clientFor(process, generation);
        try {
            const answer = await client.call(`${url}/v1/embeddings`, { input: inputs }, signal);
            return parseEmbeddings(this.id, answer, inputs.length, "llama-server");
        } catch (error) {
            // llama-server rejects an input longer than its context with a 500; we say what it is.
            if (error instanceof EngineRequestError && /too large|context size|exceeds/i.test(error.message)) {
                throw new ContextLengthExceededError(Number(/\((\d+) tokens\)/.exec(error.message)?.[1] ?? 0), this.info.contextSize);
            }
            throw error instanceof ProcessGoneError ? new EngineRequestError(this.id, error.message) : error;
        }
    }

    public async dispose(): Promise<void> {
        if (this.disposed) return;
        this.disposed = true;
        this.options.onDispose();
        await Promise.all([this.process.stop(), this.embeddingsProcess?.stop()]);
    }

    /** Sends one generation; a request that found its process dead before any output is sent again once. */
    private async generate(path: string, body: Json, callbacks: GenerationCallbacks, signal: AbortSignal): Promise<GenerationResult> {
        for (let attempt = 0; ; attempt++) {
            const { url, generation } = await this.process.endpoint(signal);
            let produced = false;
            const reader = new GenerationStreamReader({
                onDelta: (delta) => {
                    produced = true;
                    callbacks.onDelta?.(delta);
                }
            });
            try {
                return await this.clientFor(this.process, generation).stream(`${url}${path}`, body, reader, signal);
            } catch (error) {
                if (!(error instanceof ProcessGoneError)) throw error;
                if (attempt === 0 && !produced && error.phase === "connect") continue;
                throw new EngineRequestError(this.id, error.message);
            }
        }
    }

    private clientFor(process: LlamaServerProcess, generation: number): OpenAiCompatClient {
        return new OpenAiCompatClient({
            modelId: this.id,
            peer: "llama-server",
            connectionError: (error, phase) => {
                const gone = process.currentGeneration !== generation || !process.isReady;
                const code = (error as NodeJS.ErrnoException).code;
                if (gone || code === "ECONNREFUSED" || code === "ECONNRESET" || code === "EPIPE") {
                    const why = process.lastExitReason !== "" ? ` (${process.lastExitReason})` : "";
                    return new ProcessGoneError(`llama-server exited during the request${why}; it is being restarted`, phase);
                }
                return phase === "connect"
                    ? new EngineUnavailableError(this.id, `cannot reach llama-server (${error.message})`)
                    : new EngineRequestError(this.id, `the connection to llama-server broke during the request (${error.message})`, { cause: error });
            }
        });
    }

    private embeddingServer(signal: AbortSignal): Promise<LlamaServerProcess> {
        if (this.disposed) return Promise.reject(new EngineUnavailableError(this.id, "the model is unloaded"));
        this.embeddings ??= (async () => {
            const process = this.options.embeddingProcess();
            this.embeddingsProcess = process;
            await process.start();
            return process;
        })();
        const pending = this.embeddings;
        pending.catch(() => {
            if (this.embeddings === pending) this.embeddings = undefined;
        });
        return raceAbort(pending, signal).catch((error: unknown) => {
            if (signal.aborted) throw error;
            throw new EngineUnavailableError(this.id, `the embeddings process did not start: ${(error as Error).message}`);
        });
    }
}

/** Mirrors the in-process engine: a named tool must be one of `tools`; "required" needs tools. */
function checkToolChoice(request: ChatGenerationRequest): void {
    const choice = request.toolChoice;
    const tools = request.tools ?? [];
    if (choice === undefined || choice === "auto" || choice === "none") return;
    if (choice === "required") {
        if (tools.length === 0) throw new UnsupportedRequestError('tool_choice "required" needs at least one tool in tools', "tool_choice");
        return;
    }
    if (!tools.some((tool) => tool.name === choice.name)) {
        throw new UnsupportedRequestError(`tool_choice names "${choice.name}", which is not in tools`, "tool_choice");
    }
}

async function getJson(url: string, signal: AbortSignal): Promise<Json> {
    const response = await fetch(url, { signal });
    if (response.status !== 200) throw new Error(`GET ${url} answered HTTP ${response.status}`);
    return (await response.json()) as Json;
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<T>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason as Error);
        signal.addEventListener("abort", onAbort, { once: true });
        promise.then(
            (value) => {
                signal.removeEventListener("abort", onAbort);
                resolve(value);
            },
            (error: unknown) => {
                signal.removeEventListener("abort", onAbort);
                reject(error as Error);
            }
        );
    });
}
