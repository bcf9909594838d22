import { readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/openDatabase.js";
import { HashCache } from "../../src/models/HashCache.js";
import { ModelRegistry } from "../../src/models/ModelRegistry.js";
import { sha256Hex } from "../helpers/modelHttpServer.js";
import { makeTinyModel } from "../helpers/models.js";
import { tempDataDir } from "../helpers/server.js";

describe("HashCache", () => {
    it("answers from SQLite for unchanged files, rehashes changed ones (even with the old mtime), and leaves the registry's summaries intact", async () => {
        const dataDir = tempDataDir();
        const models = join(dataDir, "models");
        const path = await makeTinyModel(models, "tiny");
        const db = openDatabase(join(dataDir, "test.db"));
        try {
            const registry = new ModelRegistry({ modelsDir: models, db });
            expect((await registry.refresh())[0]).toMatchObject({ id: "tiny", state: "available" });
            const cache = new HashCache(db);
            const original = sha256Hex(readFileSync(path));
            expect(await cache.hash(path)).toEqual({ sha256: original, size: statSync(path).size, cached: false });
            expect(await cache.hash(path)).toMatchObject({ sha256: original, cached: true });
            // The registry's header cache survives the hash cache writing the same row.
            expect((await registry.refresh())[0]).toMatchObject({ id: "tiny", state: "available" });

            // Same size, same inode, mtime put back (touch -r): only ctime tells.
            const before = statSync(path);
            const bytes = readFileSync(path);
            bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
            await new Promise((resolve) => setTimeout(resolve, 20));
            writeFileSync(path, bytes);
            utimesSync(path, before.atimeMs / 1000, before.mtimeMs / 1000);
            expect(Math.trunc(statSync(path).mtimeMs)).toBe(Math.trunc(before.mtimeMs));
            expect(statSync(path).ino).toBe(before.ino);
            expect(await cache.hash(path)).toMatchObject({ sha256: sha256Hex(bytes), cached: false });

            // A row written by the hash cache for a file the registry never read is not an error entry.
            const other = await makeTinyModel(models, "other");
            await cache.hash(other);
            const entries = await registry.refresh();
            expect(entries.map((entry) => [entry.id, entry.state])).toEqual([
                ["other", "available"],
                ["tiny", "available"]
            ]);
        } finally {
            db.close();
        }
    });
});
