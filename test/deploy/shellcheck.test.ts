// Every shell script we ship passes Debian's shellcheck, is executable and starts with a bash shebang.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { findOnHostPath, REPO_ROOT } from "../helpers/deploySandbox.js";

function shellScripts(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const path = join(dir, e.name);
        if (e.isDirectory()) return shellScripts(path);
        return e.name.endsWith(".sh") ? [path] : [];
    });
}

const scripts = ["docker", "deploy", ".auto"].flatMap((d) => shellScripts(join(REPO_ROOT, d)));

describe("shell scripts", () => {
    it("are found (docker/*.sh at least)", () => {
        const names = scripts.map((s) => relative(REPO_ROOT, s));
        for (const s of ["docker/start-docker.sh", "docker/pod-dev-entrypoint.sh", "docker/build-llama.sh", "docker/collect-libs.sh"]) {
            expect(names).toContain(s);
        }
    });

    it("pass shellcheck", () => {
        const shellcheck = findOnHostPath("shellcheck");
        if (shellcheck === undefined) {
            throw new Error("shellcheck is not installed; install Debian's package: apt-get update && apt-get install -y shellcheck");
        }
        const res = spawnSync(shellcheck, ["--shell=bash", "--external-sources", "--format=gcc", ...scripts], {
            cwd: REPO_ROOT,
            encoding: "utf8",
        });
        expect(res.error).toBeUndefined();
        expect(res.stdout + res.stderr).toBe("");
        expect(res.status).toBe(0);
    });

    it.each(scripts.map((s) => [relative(REPO_ROOT, s), s]))("%s is executable with a bash shebang and strict mode", (_name, path) => {
        expect(statSync(path).mode & 0o111).not.toBe(0);
        const text = readFileSync(path, "utf8");
        expect(text.startsWith("#!/usr/bin/env bash\n")).toBe(true);
        expect(text).toContain("set -euo pipefail");
    });
});
