import { z } from "zod";

/** OpenAI request bodies. Unknown fields are ignored (clients send many), known ones are type-checked. */

const textPart = z.object({ type: z.literal("text"), text: z.string() });
const contentSchema = z.union([z.string(), z.array(z.union([textPart, z.object({ type: z.string() }).loose()]))]).nullable();

const toolCallSchema = z.object({
    id: z.string(),
    type: z.literal("function").default("function"),
    function: z.object({ name: z.string().min(1), arguments: z.string() })
});

const messageSchema = z.discriminatedUnion("role", [
    z.object({ role: z.literal("system"), content: contentSchema }),
    z.object({ role: z.literal("developer"), content: contentSchema }),
    z.object({ role: z.literal("user"), content: contentSchema }),
    z.object({ role: z.literal("assistant"), content: contentSchema.optional(), tool_calls: z.array(toolCallSchema).optional() }),
    z.object({ role: z.literal("tool"), content: contentSchema, tool_call_id: z.string().optional() })
]);

const stopSchema = z.union([z.string(), z.array(z.string()).max(16)]).nullable().optional();

const samplingFields = {
    max_tokens: z.number().int().positive().nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().gt(0).max(1).nullable().optional(),
    top_k: z.number().int().nonnegative().nullable().optional(),
    min_p: z.number().min(0).max(1).nullable().optional(),
    seed: z.number().int().nullable().optional(),
    stop: stopSchema,
    ignore_eos: z.boolean().nullable().optional(),
    presence_penalty: z.number().min(-2).max(2).nullable().optional(),
    frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
    logit_bias: z.record(z.string().regex(/^\d+$/, "logit_bias keys must be token ids"), z.number().min(-100).max(100)).nullable().optional(),
    n: z.number().int().positive().nullable().optional(),
    stream: z.boolean().nullable().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional()
};

const responseFormatSchema = z.discriminatedUnion("type", [
    z.object({ type: z.literal("text") }),
    z.object({ type: z.literal("json_object") }),
    z.object({
        type: z.literal("json_schema"),
        json_schema: z.object({ name: z.string().optional(), schema: z.record(z.string(), z.unknown()).optional(), strict: z.boolean().nullable().optional() })
    })
]);

const toolSchema = z.object({
    type: z.literal("function"),
    function: z.object({
        name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "tool names are 1-64 letters, digits, _ or -"),
        description: z.string().optional(),
        parameters: z.record(z.string(), z.unknown()).optional()
    })
});

const toolChoiceSchema = z.union([
    z.enum(["auto", "none", "required"]),
    z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) })
]);

export const chatCompletionRequestSchema = z.object({
    model: z.string().optional(),
    messages: z.array(messageSchema).min(1, "messages must not be empty"),
    max_completion_tokens: z.number().int().positive().nullable().optional(),
    response_format: responseFormatSchema.nullable().optional(),
    tools: z.array(toolSchema).nullable().optional(),
    tool_choice: toolChoiceSchema.nullable().optional(),
    ...samplingFields
});

export const completionRequestSchema = z.object({
    model: z.string().optional(),
    prompt: z.union([z.string(), z.array(z.string()).min(1)]),
    echo: z.boolean().nullable().optional(),
    response_format: responseFormatSchema.nullable().optional(),
    ...samplingFields
});

export const embeddingRequestSchema = z.object({
    model: z.string().optional(),
    input: z.union([z.string(), z.array(z.string()).min(1)]),
    encoding_format: z.enum(["float", "base64"]).optional()
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
export type CompletionRequest = z.infer<typeof completionRequestSchema>;
export type EmbeddingRequest = z.infer<typeof embeddingRequestSchema>;
