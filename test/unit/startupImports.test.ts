import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const RECORDER = fileURLToPath(new URL("../helpers/packageImportRecorder.mjs", import.meta.url));
const MAIN = fileURLToPath(new URL("../../distjs/cli/main.js", import.meta.url));

/** The npm packages a fresh Node process resolves while it imports the CLI: what every start of every command pays for. */
function packagesImportedByCli(): string[] {
    const child = spawnSync(process.execPath, ["--import", RECORDER, "--input-type=module", "-e", `await import(${JSON.stringify(MAIN)});`], { encoding: "utf8" });
    if (child.status !== 0) throw new Error(`importing the CLI failed (exit ${child.status}): ${child.stderr}`);
    const lastLine = child.stderr.trim().split("\n").at(-1) ?? "[]";
    return JSON.parse(lastLine) as string[];
}

describe("start-up imports", () => {
    it("leave node-llama-cpp and the cloud SDKs out until a command or engine uses them", () => {
        const packages = packagesImportedByCli();
        // The recorder works: the CLI's own argument parser is seen.
        expect(packages).toContain("commander");
        for (const heavy of ["node-llama-cpp", "@aws-sdk/client-s3", "@google-cloud/storage"]) expect(packages).not.toContain(heavy);
    });
});
