import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InvalidModelIdError } from "../../src/models/modelErrors.js";
import { assertSafeModelId, resolveModelFile } from "../../src/models/resolveModelPath.js";

describe("model id safety", () => {
    it.each(["../etc/passwd", "a/b", "a\\b", "..", ".hidden", "", "x\u0000y", "/abs"])("rejects %j", (id) => {
        expect(() => assertSafeModelId(id)).toThrow(InvalidModelIdError);
    });

    it.each(["qwen2.5-0.5b-instruct-q8_0", "tiny", "Llama-3.1-8B:Q4_K_M", "model v2"])("accepts %j", (id) => {
        expect(() => assertSafeModelId(id)).not.toThrow();
    });

    it("keeps files inside the models directory", () => {
        const root = mkdtempSync(join(tmpdir(), "mentator-ids-"));
        const models = join(root, "models");
        mkdirSync(join(models, "sub"), { recursive: true });
        writeFileSync(join(models, "sub", "a.gguf"), "x");
        writeFileSync(join(root, "outside.gguf"), "x");
        expect(resolveModelFile(models, "sub/a.gguf")).toBe(join(models, "sub", "a.gguf"));
        expect(() => resolveModelFile(models, "../outside.gguf")).toThrow(/outside the models directory/);
        expect(() => resolveModelFile(models, "sub/../../outside.gguf")).toThrow(/outside/);
        expect(() => resolveModelFile(models, join(root, "outside.gguf"))).toThrow(/relative/);
    });

    it("refuses symlinks that escape the models directory", () => {
        const root = mkdtempSync(join(tmpdir(), "mentator-ids-"));
        const models = join(root, "models");
        mkdirSync(models);
        writeFileSync(join(root, "secret.gguf"), "x");
        symlinkSync(join(root, "secret.gguf"), join(models, "escape.gguf"));
        writeFileSync(join(models, "real.gguf"), "x");
        symlinkSync(join(models, "real.gguf"), join(models, "alias.gguf"));
        expect(() => resolveModelFile(models, "escape.gguf")).toThrow(/points outside/);
        expect(resolveModelFile(models, "alias.gguf")).toBe(join(models, "real.gguf"));
    });
});
