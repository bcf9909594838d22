import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { requireCpuLlamaServer } from "../helpers/llamaServerBuild.js";
import { runCli } from "../helpers/server.js";

// `mentator engine build`: the cache hit the tests rely on, and its errors. The build itself (~20 minutes on
// 2 cores) runs in .ci/run before the tests, not here.

describe("mentator engine build", () => {
    it("returns the cached build at once", async () => {
        const { cacheDir, binary } = await requireCpuLlamaServer();
        const dataDir = mkdtempSync(path.join(tmpdir(), "mentator-engine-build-"));
        const result = await runCli(["engine", "build", "--gpu", "cpu", "--json", "--data-dir", dataDir], { env: { MENTATOR_ENGINE_CACHE: cacheDir } });
        expect(result.code).toBe(0);
        expect(JSON.parse(result.stdout)).toMatchObject({ backend: "cpu", binary, cached: true });
    });

    it("says which tool is missing, and rejects an unknown backend", async () => {
        const dataDir = mkdtempSync(path.join(tmpdir(), "mentator-engine-build-"));
        const missing = await runCli(["engine", "build", "--gpu", "cpu", "--data-dir", dataDir], { env: { PATH: "/nonexistent" } });
        expect(missing.code).toBe(1);
        expect(missing.stderr).toMatch(/cmake not found on PATH/);

        const wrong = await runCli(["engine", "build", "--gpu", "tpu", "--data-dir", dataDir]);
        expect(wrong.code).toBe(2);
        expect(wrong.stderr).toMatch(/expected one of cuda, rocm, vulkan, cpu/);
    });
});
