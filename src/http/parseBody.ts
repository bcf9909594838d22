import type { z } from "zod";
import { HttpError } from "./errors.js";

/** Validates a JSON body against a schema; the first problem becomes a 400 naming the field (OpenAI's `param`). */
export function parseBody<Schema extends z.ZodType>(schema: Schema, body: unknown): z.infer<Schema> {
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
        throw new HttpError(400, "the request body must be a JSON object (Content-Type: application/json)", { code: "invalid_body" });
    }
    const result = schema.safeParse(body);
    if (result.success) return result.data;
    const issue = result.error.issues[0]!;
    const param = issue.path.map((part, index) => (typeof part === "number" ? `[${part}]` : index === 0 ? String(part) : `.${String(part)}`)).join("");
    throw new HttpError(400, `${param === "" ? "body" : param}: ${issue.message.replace(/^Invalid input: /, "")}`, {
        code: "invalid_value",
        param: param === "" ? null : param
    });
}
