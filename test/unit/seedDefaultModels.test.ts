import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loadConfig.js";
import { openDatabase } from "../../src/db/openDatabase.js";
import { ModelRegistry } from "../../src/models/ModelRegistry.js";
import { seedDefaultModels } from "../../src/models/seedDefaultModels.js";
import { ModelSupply } from "../../src/service/ModelSupply.js";
import { createLogger } from "../../src/util/logger.js";
import { makeTinyModel } from "../helpers/models.js";
import { tempDataDir } from "../helpers/server.js";

describe("default model seeding (Docker first run)", () => {
    it("copies default-models/* into an empty models dir once, never over user files", async () => {
        const root = tempDataDir("mentator-root-");
        const defaults = join(root, "default-models");
        await makeTinyModel(defaults, "baked");
        writeFileSync(join(defaults, "notes.txt"), "baked notes");
        mkdirSync(join(defaults, "subdir"));
        const models = join(tempDataDir(), "models");
        mkdirSync(models, { recursive: true });
        writeFileSync(join(models, "notes.txt"), "user notes");
        writeFileSync(join(models, ".baked.gguf.seed-tmp.999999"), "left by a crash");

        expect(await seedDefaultModels(defaults, models)).toEqual({ copied: ["baked.gguf"] });
        expect(readFileSync(join(models, "notes.txt"), "utf8")).toBe("user notes");
        expect(readFileSync(join(models, "baked.gguf"))).toEqual(readFileSync(join(defaults, "baked.gguf")));
        expect(readdirSync(models).sort()).toEqual(["baked.gguf", "notes.txt"]);

        const again = await seedDefaultModels(defaults, models);
        expect(again.copied).toEqual([]);
        expect(again.skipped).toContain("already has models");
        expect(await seedDefaultModels(join(root, "absent"), models)).toMatchObject({ copied: [], skipped: expect.stringContaining("does not exist") as string });
    });

    it("runs as the first model-supply step in Docker mode (MENTATOR_ROOT) and then serves the seeded model", async () => {
        const root = tempDataDir("mentator-root-");
        await makeTinyModel(join(root, "default-models"), "baked");
        const dataDir = tempDataDir();
        const config = loadConfig({ cli: { confDocker: join(dataDir, "mentator-llm-service.conf.jsonc") }, env: { MENTATOR_ROOT: root } });
        expect(config.dockerMode).toBe(true);
        expect(config.rootDir).toBe(root);
        const db = openDatabase(config.dbPath);
        try {
            const registry = new ModelRegistry({ modelsDir: config.modelsDir, db });
            await registry.refresh();
            expect(registry.hasUsableModels()).toBe(false);
            const supply = new ModelSupply({ config, db, registry, log: createLogger("silent") });
            expect(supply.blockingReason()).toBe("preparing models");
            expect(await supply.run()).toEqual({ ok: true });
            expect(supply.state()).toEqual({ phase: "done" });
            expect(supply.blockingReason()).toBeUndefined();
            expect(registry.list().map((entry) => [entry.id, entry.state])).toEqual([["baked", "available"]]);
            expect(existsSync(join(dataDir, "models", "baked.gguf"))).toBe(true);
        } finally {
            db.close();
        }
    });
});
