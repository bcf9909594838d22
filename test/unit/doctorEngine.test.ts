import { mkdtempSync } from "node:fs";
import fs from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Llama } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { doctorExitCode, doctorJson, formatDoctorReport, runDoctor } from "../../src/cli/commands/doctor.js";
import { readLlamaCppRelease } from "../../src/engine/llamaServer/locateLlamaServer.js";
import { createFakeProbes } from "../helpers/hardwareFakes.js";

const cpuMachine = () => createFakeProbes({ files: { "/proc/meminfo": "MemTotal: 16777216 kB\nMemAvailable: 8388608 kB\n" } });
const runtime = async () => ({ llama: { getGpuDeviceNames: async () => [], dispose: async () => undefined } as unknown as Llama, backend: "cpu" as const, fallbacks: [] });

describe("doctor: engine section", () => {
    it("shows auto picking llama-server when the cache has it, and which models choose otherwise", async () => {
        const cacheDir = mkdtempSync(path.join(tmpdir(), "mentator-doctor-engines-"));
        const folder = path.join(cacheDir, await readLlamaCppRelease(), "cpu");
        await fs.mkdir(folder, { recursive: true });
        await fs.writeFile(path.join(folder, "llama-server"), "#!/bin/sh\n", { mode: 0o755 });
        await fs.writeFile(path.join(folder, "build.json"), "{}");
        const report = await runDoctor({
            gpu: "cpu",
            probes: cpuMachine(),
            loadRuntime: runtime,
            engine: {
                requested: "auto",
                dirs: { cacheDir },
                models: { small: { engine: "node-llama-cpp" }, remote: { upstream: "http://10.0.0.5:8000/v1" }, plain: { contextSize: 8 } }
            }
        });
        expect(report.engine?.choice).toMatchObject({ engine: "llama-server", requested: "auto" });
        expect(report.engine?.models.map((model) => [model.id, model.engine])).toEqual([["small", "node-llama-cpp"], ["remote", "upstream"]]);
        expect(doctorExitCode(report)).toBe(0);
        expect(doctorJson(report).engine?.llamaServer.path).toBe(path.join(folder, "llama-server"));
        const text = formatDoctorReport(report);
        expect(text).toContain("Engine: llama-server: auto: llama-server for cpu is present");
        expect(text).toContain("model remote: upstream");
    });

    it("fails (exit 1) when llama-server is forced and there is none, saying how to build it", async () => {
        const report = await runDoctor({
            gpu: "cpu",
            probes: cpuMachine(),
            loadRuntime: runtime,
            engine: { requested: "llama-server", dirs: { cacheDir: mkdtempSync(path.join(tmpdir(), "mentator-doctor-none-")) }, models: {} }
        });
        expect(report.engine?.choice.error).toContain('mentator engine build --gpu cpu');
        expect(doctorExitCode(report)).toBe(1);
        expect(formatDoctorReport(report)).toMatch(/Engine: FAILED: forced \(engine=llama-server\)/);
    });
});
