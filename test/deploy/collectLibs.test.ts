// docker/collect-libs.sh: the ldd closure of a binary without the base libraries, and ROCm kernel filtering.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findOnHostPath, REPO_ROOT, Sandbox } from "../helpers/deploySandbox.js";

const SCRIPT = join(REPO_ROOT, "docker", "collect-libs.sh");
let sb: Sandbox;

function collect(args: string[]) {
    return spawnSync(SCRIPT, args, { encoding: "utf8" });
}

/** The libraries ldd resolves for a binary, by soname. */
function lddNames(binary: string): string[] {
    const out = spawnSync("ldd", [binary], { encoding: "utf8" }).stdout;
    return [...out.matchAll(/^\s*(\S+) => \//gm)].map((m) => m[1]!);
}

beforeEach(() => {
    sb = new Sandbox();
});
afterEach(() => sb.dispose());

describe("collect-libs.sh", () => {
    it("copies the shared libraries a binary needs, leaving out glibc, libstdc++ and libgcc", () => {
        const git = findOnHostPath("git")!;
        const expected = lddNames(git).filter((n) => !/^(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s)\.so/.test(n));
        expect(expected.length).toBeGreaterThan(0);
        const r = collect([sb.path("out"), git]);
        expect(r.status).toBe(0);
        const copied = readdirSync(sb.path("out")).sort();
        expect(copied).toEqual([...expected].sort());
        expect(copied.some((n) => n.startsWith("libc.so"))).toBe(false);
    });

    it("fails on a binary with unresolved libraries", () => {
        const r = collect([sb.path("out"), sb.path("missing-binary")]);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("not found");
    });

    it("keeps only the rocBLAS kernels of the requested GPU architectures and records them", () => {
        const lib = sb.path("rocm", "lib", "rocblas", "library");
        mkdirSync(lib, { recursive: true });
        const files = [
            "Kernels.so-000-gfx90a-xnack-.hsaco", "Kernels.so-000-gfx908.hsaco", "TensileLibrary_lazy_gfx1100.dat",
            "TensileLibrary_lazy_gfx1101.dat", "TensileManifest.txt", "TensileLibrary_lazy_gfx11000.dat",
        ];
        for (const f of files) writeFileSync(join(lib, f), f);
        const r = collect(["--rocm-kernels", "gfx90a;gfx1100", "--rocm-dir", sb.path("rocm"), sb.path("out"), findOnHostPath("git")!]);
        expect(r.status).toBe(0);
        expect(readdirSync(sb.path("out", "rocblas", "library")).sort()).toEqual([
            "Kernels.so-000-gfx90a-xnack-.hsaco", "TensileLibrary_lazy_gfx1100.dat", "TensileManifest.txt",
        ]);
        expect(readFileSync(sb.path("out", "targets.txt"), "utf8")).toBe("gfx90a\ngfx1100\n");
    });
});
