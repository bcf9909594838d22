import { randomBytes, randomInt } from "node:crypto";
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
    TextGenerationRequest,
    ToolDefinition
} from "../types.js";
import { DeltaReplay } from "./DeltaReplay.js";
import type { LlamaServerProcess, ProcessLog } from "./LlamaServerProcess.js";
import { isUtf8Fault, readHighByteTokenIds, VALID_UTF8_GRAMMAR } from "./utf8Guard.js";
import { abortable } from "../../util/abortable.js";

type Json = Record<string, unknown>;

export interface LlamaServerModelOptions {
    id: string;
    spec: ModelLoadSpec;
    /** The started generation process. */
    process: LlamaServerProcess;
    log: ProcessLog;
    parallel: number;
    /** Makes the embeddings process (llama-server serves embeddings only with --embeddings); started on first use. */
    embeddingProcess: () => Promise<LlamaServerProcess>;
    onDispose: () => void;
}

/** How long a broken connection waits for the process exit to be noticed before it is described. */
const EXIT_NOTICE_MS = 300;

/** A network failure talking to the process; the model turns it into EngineRequestError (or retries). */
class ConnectionLostError extends Error {
    public readonly phase: ConnectionPhase;
    /** The connection was refused: nothing was sent. */
    public readonly refused: boolean;

    public constructor(cause: Error, phase: ConnectionPhase) {
        const code = (cause as NodeJS.ErrnoException).code;
        super(code !== undefined ? `${code}: ${cause.message}` : cause.message, { cause });
        this.phase = phase;
        this.refused = phase === "connect" && code === "ECONNREFUSED";
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
    private readonly client: OpenAiCompatClient;
    private embeddings?: Promise<LlamaServerProcess>;
    private byteTokens?: Promise<number[]>;
    private embeddingsProcess?: LlamaServerProcess;
    private disposed = false;

    private constructor(options: LlamaServerModelOptions, info: LoadedModelInfo) {
        this.options = options;
        this.id = options.id;
        this.process = options.process;
        this.info = info;
        this.client = new OpenAiCompatClient({
            modelId: options.id,
            peer: "llama-server",
            connectionError: (error, phase) => new ConnectionLostError(error, phase)
        });
    }

    /** Reads what the started process reports (slot context, training context) into the model info. */
    public static async create(options: LlamaServerModelOptions): Promise<LlamaServerModel> {
        const signal = AbortSignal.timeout(30_000);
        const { url } = await options.process.endpoint(signal);
        const props = await getJson(`${url}/props`, signal);
        const models = await getJson(`${url}/v1/models`, signal).catch(() => ({}) as Json);
        const settings = (props.default_generation_settings ?? {}) as Json;
        const slotContext = typeof settings.n_ctx === "number" ? settings.n_ctx : options.spec.contextSize;
        const meta = ((Array.isArray(models.data) ? models.data[0] : undefined) as Json | undefined)?.meta as Json | undefined;
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

    public async chat(request: ChatGenerationRequest, callbacks: GenerationCallbacks, signal: AbortSignal): Promise<GenerationResult> {
        checkToolChoice(request);
        const forced = forcedTool(request);
        if (forced !== undefined) return this.forcedToolCall(request, forced, callbacks, signal);
        const body: Json = {
            ...toChatCompletionBody(request, { dialect: "llama-server" }),
            // Thoughts stay in the text, as the in-process engine returns them.
            reasoning_format: "none"
        };
        const activeTools = (request.tools?.length ?? 0) > 0 && request.toolChoice !== "none";
        const ownGrammar = request.responseFormat !== undefined && request.responseFormat.type !== "text";
        if (ownGrammar && !activeTools) return this.templatedCompletion(body, request, callbacks, signal);
        if (!ownGrammar && !activeTools) body.grammar = VALID_UTF8_GRAMMAR;
        // Tools with "auto" cannot take the grammar: a fault there is retried once, which needs the same seed.
        const retryFault = activeTools && (request.toolChoice === undefined || request.toolChoice === "auto");
        if (retryFault && body.seed === undefined) body.seed = randomInt(0x7fffffff);
        return this.guarded("/v1/chat/completions", body, callbacks, signal, retryFault);
    }

    /**
     * A forced tool call as the in-process engine makes it: the arguments are generated under the tool's JSON
     * schema (no tool list in the prompt) and returned as one tool call, whatever the chat template supports.
     */
    private async forcedToolCall(request: ChatGenerationRequest, tool: ToolDefinition, callbacks: GenerationCallbacks, signal: AbortSignal): Promise<GenerationResult> {
        const id = `call_${randomBytes(12).toString("hex")}`;
        let first = true;
        const inner: ChatGenerationRequest = {
            messages: request.messages,
            responseFormat: { type: "json_schema", schema: tool.parameters ?? { type: "object" } },
            sampling: request.sampling
        };
        const result = await this.chat(inner, {
            streamed: callbacks.streamed,
            onDelta: (delta) => {
                if (delta.type !== "text") return;
                callbacks.onDelta?.({ type: "toolCall", index: 0, argumentsDelta: delta.text, ...(first ? { id, name: tool.name } : {}) });
                first = false;
            }
        }, signal);
        return {
            ...result,
            text: "",
            toolCalls: [{ id, name: tool.name, arguments: result.text }],
            finishReason: result.finishReason === "stop" ? "tool_calls" : result.finishReason
        };
    }

    /**
     * JSON output for a chat: the messages rendered by llama-server's own template (/apply-template), then a
     * completion under the schema's grammar. llama-server's chat path puts the generation prompt into the
     * grammar, which fails to initialise for some templates ("Failed to initialize samplers"); this does not.
     */
    private async templatedCompletion(chatBody: Json, request: ChatGenerationRequest, callbacks: GenerationCallbacks, signal: AbortSignal): Promise<GenerationResult> {
        const { url, generation } = await this.process.endpoint(signal);
        let templated: Json;
        try {
            templated = await this.client.call(`${url}/apply-template`, { messages: chatBody.messages }, signal);
        } catch (error) {
            if (error instanceof ConnectionLostError) throw this.describeLoss(this.process, error, await this.diedSince(this.process, generation));
            throw error;
        }
        if (typeof templated.prompt !== "string") throw new EngineRequestError(this.id, "llama-server's /apply-template returned no prompt");
        const body = toCompletionBody({ prompt: templated.prompt, responseFormat: request.responseFormat, sampling: request.sampling }, { dialect: "llama-server" });
        return this.guarded("/v1/completions", body, callbacks, signal, false);
    }

    public complete(request: TextGenerationRequest, callbacks: GenerationCallbacks, signal: AbortSignal): Promise<GenerationResult> {
        const body = toCompletionBody(request, { dialect: "llama-server" });
        if (body.json_schema === undefined) body.grammar = VALID_UTF8_GRAMMAR;
        return this.guarded("/v1/completions", body, callbacks, signal, false);
    }

    public async embed(inputs: string[], signal: AbortSignal): Promise<EmbeddingResult> {
        const process = await this.embeddingServer(signal);
        const { url, generation } = await process.endpoint(signal);
        try {
            // Raw vectors, as the in-process engine returns them (llama-server would normalise them).
            const answer = await this.client.call(`${url}/v1/embeddings`, { input: inputs, embd_normalize: -1 }, signal);
            return parseEmbeddings(this.id, answer, inputs.length, "llama-server");
        } catch (error) {
            // llama-server rejects an input longer than its context with a 500; we say what it is.
            if (error instanceof EngineRequestError && /too large|context size|exceeds/i.test(error.message)) {
                throw new ContextLengthExceededError(Number(/\((\d+) tokens\)/.exec(error.message)?.[1] ?? 0), this.info.contextSize);
            }
            if (error instanceof ConnectionLostError) throw this.describeLoss(process, error, await this.diedSince(process, generation));
            throw error;
        }
    }

    public async dispose(): Promise<void> {
        if (this.disposed) return;
        this.disposed = true;
        this.options.onDispose();
        await Promise.all([this.process.stop(), this.embeddingsProcess?.stop()]);
    }

    /**
     * Runs a generation behind the UTF-8 guard (see utf8Guard.ts): where the grammar could not be used, a fault
     * is retried once with the same seed and the high byte tokens banned, replaying what was already streamed.
     * The fault never reaches the client as llama-server's 500: at worst it is a clean 502 saying what happened.
     */
    private async guarded(path: string, body: Json, callbacks: GenerationCallbacks, signal: AbortSignal, retryFault: boolean): Promise<GenerationResult> {
        const replay = new DeltaReplay(this.id, callbacks);
        try {
            return await this.generate(path, body, replay.callbacks(), signal);
        } catch (error) {
            if (!isUtf8Fault(error)) throw error;
            const bans = retryFault && !replay.sentToolCall ? await this.highByteTokens() : [];
            if (bans.length === 0) throw utf8FaultError(this.id);
            this.options.log.warn({ model: this.id, bannedTokens: bans.length }, "llama-server produced text that is not valid UTF-8; generating again with the high byte tokens banned");
            const existing = Array.isArray(body.logit_bias) ? body.logit_bias : [];
            replay.startReplay();
            try {
                return await this.generate(path, { ...body, logit_bias: [...existing, ...bans.map((id) => [id, false])] }, replay.callbacks(), signal);
            } catch (retryError) {
                throw isUtf8Fault(retryError) ? utf8FaultError(this.id) : retryError;
            }
        }
    }

    private highByteTokens(): Promise<number[]> {
        const path = this.options.spec.path;
        if (path === undefined) return Promise.resolve([]);
        this.byteTokens ??= readHighByteTokenIds(path).catch(() => []);
        return this.byteTokens;
    }

    /** Sends one generation; a request refused by a process that had just died is sent again once. */
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
                return await this.client.generate(`${url}${path}`, body, reader, signal, callbacks.streamed === true);
            } catch (error) {
                if (!(error instanceof ConnectionLostError)) throw error;
                const died = await this.diedSince(this.process, generation);
                // Refused: the process was already gone, the request never reached it, so it can go to the new one.
                if (died && attempt === 0 && !produced && error.refused) continue;
                throw this.describeLoss(this.process, error, died);
            }
        }
    }

    /** Waits briefly for the exit to be noticed: a broken loopback connection usually means the process died. */
    private async diedSince(process: LlamaServerProcess, generation: number): Promise<boolean> {
        for (let waited = 0; waited < EXIT_NOTICE_MS && process.currentGeneration === generation; waited += 10) {
            await new Promise((resolve) => setTimeout(resolve, 10));
        }
        return process.currentGeneration !== generation;
    }

    private describeLoss(process: LlamaServerProcess, error: ConnectionLostError, died: boolean): EngineRequestError {
        if (!died) return new EngineRequestError(this.id, `the connection to llama-server broke during the request (${error.message})`, { cause: error.cause });
        const why = process.lastExitReason !== "" ? ` (${process.lastExitReason})` : "";
        return new EngineRequestError(this.id, `llama-server exited during the request${why}; it is being restarted, retry the request`);
    }

    private embeddingServer(signal: AbortSignal): Promise<LlamaServerProcess> {
        if (this.disposed) return Promise.reject(new EngineUnavailableError(this.id, "the model is unloaded"));
        this.embeddings ??= (async () => {
            const process = await this.options.embeddingProcess();
            this.embeddingsProcess = process;
            await process.start();
            return process;
        })();
        const pending = this.embeddings;
        pending.catch(() => {
            if (this.embeddings === pending) this.embeddings = undefined;
        });
        return abortable(pending, signal).catch((error: unknown) => {
            if (signal.aborted) throw error;
            throw new EngineUnavailableError(this.id, `the embeddings process did not start: ${(error as Error).message}`);
        });
    }
}

function utf8FaultError(modelId: string): EngineRequestError {
    return new EngineRequestError(
        modelId,
        "the model produced bytes that are not valid UTF-8, which llama-server cannot return (a known llama-server fault); retry the request, a different seed avoids it"
    );
}

/** The tool a request forces, as the in-process engine reads it: a named tool, or "required" with exactly one tool. */
function forcedTool(request: ChatGenerationRequest): ToolDefinition | undefined {
    const choice = request.toolChoice;
    const tools = request.tools ?? [];
    if (choice === undefined || choice === "auto" || choice === "none") return undefined;
    if (choice === "required") return tools.length === 1 ? tools[0] : undefined;
    return tools.find((tool) => tool.name === choice.name);
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

