// docker/Dockerfile: dockerfile-utils finds no problem, and its structure does what the image promises.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { validate } from "dockerfile-utils";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../helpers/deploySandbox.js";

const DOCKERFILE = join(REPO_ROOT, "docker", "Dockerfile");
const text = readFileSync(DOCKERFILE, "utf8");

interface Instruction {
    keyword: string;
    args: string;
    line: number;
}

interface Stage {
    name: string;
    base: string;
    instructions: Instruction[];
}

/** Instructions with continuation lines joined and comment lines dropped (as the builder reads them). */
function parseInstructions(source: string): Instruction[] {
    const out: Instruction[] = [];
    let current: string | null = null;
    let startLine = 0;
    source.split("\n").forEach((raw, index) => {
        const line = raw.trimEnd();
        if (/^\s*#/.test(line) || (current === null && line.trim() === "")) return;
        if (current === null) startLine = index + 1;
        const continued = line.endsWith("\\");
        current = (current ?? "") + (continued ? line.slice(0, -1) : line) + (continued ? " " : "");
        if (!continued) {
            const match = /^\s*(\S+)\s*(.*)$/s.exec(current);
            if (match) out.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.replace(/\s+/g, " ").trim(), line: startLine });
            current = null;
        }
    });
    return out;
}

const instructions = parseInstructions(text);
const globalArgs = instructions.slice(0, instructions.findIndex((i) => i.keyword === "FROM")).filter((i) => i.keyword === "ARG");
const stages: Stage[] = [];
for (const ins of instructions) {
    if (ins.keyword === "FROM") {
        const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
        if (!m) throw new Error(`cannot parse FROM at line ${ins.line}`);
        stages.push({ base: m[1]!, name: m[2] ?? `#${stages.length}`, instructions: [] });
    } else {
        stages.at(-1)?.instructions.push(ins);
    }
}
const stageNamed = (name: string): Stage => {
    const s = stages.find((st) => st.name === name);
    if (!s) throw new Error(`no stage ${name}`);
    return s;
};
/** The stage and the stages it is built FROM, nearest first. */
const ancestry = (name: string): Stage[] => {
    const chain: Stage[] = [];
    for (let s: Stage | undefined = stageNamed(name); s; s = stages.find((st) => st.name === s!.base)) chain.push(s);
    return chain;
};
const all = (name: string, keyword: string): Instruction[] =>
    ancestry(name).flatMap((s) => s.instructions.filter((i) => i.keyword === keyword));
const copies = (name: string) =>
    all(name, "COPY").map((c) => {
        const from = /--from=(\S+)/.exec(c.args)?.[1];
        const parts = c.args.split(" ").filter((p) => !p.startsWith("--"));
        return { from, sources: parts.slice(0, -1), dest: parts.at(-1)!, line: c.line };
    });

describe("Dockerfile lint", () => {
    it("has no problems according to dockerfile-utils", () => {
        expect(validate(text)).toEqual([]);
    });

    it("the linter does report problems (the check above can fail)", () => {
        const broken = text.replace("HEALTHCHECK --interval=30s", "HEALTHCHECK --interval=30parsecs") + "\nEXPOSE notaport\n";
        const messages = validate(broken).map((d) => d.message);
        expect(messages.length).toBeGreaterThanOrEqual(2);
    });
});

describe("Dockerfile structure", () => {
    it("declares the version ARGs before the first stage", () => {
        const names = globalArgs.map((a) => a.args.split("=")[0]);
        for (const arg of ["NODE_VERSION", "CUDA_VERSION", "ROCM_VERSION", "UBUNTU_VERSION"]) expect(names).toContain(arg);
        for (const a of globalArgs) expect(a.args, `ARG ${a.args} needs a default`).toMatch(/=\S/);
        const bases = stages.map((s) => s.base);
        expect(bases).toContain("node:${NODE_VERSION}-bookworm-slim");
        expect(bases).toContain("nvidia/cuda:${CUDA_VERSION}-devel-ubuntu${UBUNTU_VERSION}");
        expect(bases).toContain("nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu${UBUNTU_VERSION}");
        expect(bases).toContain("rocm/dev-ubuntu-${UBUNTU_VERSION}:${ROCM_VERSION}-complete");
        expect(bases).toContain("ubuntu:${UBUNTU_VERSION}");
    });

    it("has the dev, prod and prod-cpu targets, stage names unique", () => {
        const names = stages.map((s) => s.name);
        expect(new Set(names).size).toBe(names.length);
        for (const target of ["dev", "prod", "prod-cpu"]) expect(names).toContain(target);
    });

    it("installs dependencies from the lockfile with npm ci, and builds TypeScript in its own stage", () => {
        const depsRuns = all("deps", "RUN").map((r) => r.args).join("\n");
        expect(depsRuns).toMatch(/\bnpm ci\b/);
        expect(copies("deps").some((c) => c.sources.includes("package-lock.json"))).toBe(true);
        expect(all("build", "RUN").map((r) => r.args).join("\n")).toContain("npm run buildjs");
    });

    for (const target of ["prod", "prod-cpu"]) {
        describe(target, () => {
            it("has the HEALTHCHECK on /state/version with node, the one tool certainly in the image", () => {
                const hc = all(target, "HEALTHCHECK");
                expect(hc).toHaveLength(1);
                expect(hc[0]!.args).toMatch(/^--interval=30s --timeout=10s --start-period=60s --retries=3 CMD \["node", "-e", ".*\/state\/version.*"\]$/);
                const nodeCopied = copies(target).some((c) => c.from === "node" && c.dest === "/usr/local/bin/node");
                expect(nodeCopied).toBe(true);
            });

            it("exposes 19777, declares the data VOLUME and runs start-docker.sh under tini", () => {
                expect(all(target, "EXPOSE").map((e) => e.args)).toEqual(["19777"]);
                expect(all(target, "VOLUME").map((e) => e.args)).toEqual(["/opt/mentator-llm-service/data"]);
                const entry = all(target, "ENTRYPOINT");
                expect(entry).toHaveLength(1);
                expect(JSON.parse(entry[0]!.args)).toEqual(["/usr/bin/tini", "--", "/opt/mentator-llm-service/start-docker.sh"]);
                expect(copies(target).some((c) => c.sources.includes("docker/start-docker.sh"))).toBe(true);
            });

            it("points MENTATOR_ENGINE_DIR at the engines and bakes the default models", () => {
                expect(all(target, "ENV").map((e) => e.args).join(" ")).toContain("MENTATOR_ENGINE_DIR=/opt/mentator-llm-service/engines");
                expect(copies(target)).toContainEqual(expect.objectContaining({
                    sources: ["docker/default-models/"], dest: "/opt/mentator-llm-service/default-models/",
                }));
                expect(copies(target)).toContainEqual(expect.objectContaining({
                    from: "engine-cpu", dest: "/opt/mentator-llm-service/engines/cpu",
                }));
            });

            it("holds no dev dependencies and no sources beyond distjs/", () => {
                const allowedLocal = new Set(["package.json", "package-lock.json", "docker/start-docker.sh", "docker/default-models/"]);
                for (const c of copies(target)) {
                    if (c.from === undefined) {
                        for (const src of c.sources) expect(allowedLocal.has(src), `COPY ${src} (line ${c.line})`).toBe(true);
                        continue;
                    }
                    expect(["deps", "build-base", "dev"], `COPY --from=${c.from} (line ${c.line})`).not.toContain(c.from);
                    if (c.from === "build") expect(c.sources).toEqual(["/src/distjs"]);
                }
                const modules = copies(target).filter((c) => c.dest === "./node_modules");
                expect(modules).toHaveLength(1);
                const pruned = ancestry(modules[0]!.from!).flatMap((s) => s.instructions).map((i) => i.args).join("\n");
                expect(pruned).toMatch(/npm (prune|ci) [^\n]*--omit=dev/);
            });
        });
    }

    it("prod-cpu drops the GPU prebuilt binaries; prod keeps them and adds the ROCm build", () => {
        const cpuModules = copies("prod-cpu").find((c) => c.dest === "./node_modules")!;
        const cpuRuns = ancestry(cpuModules.from!).flatMap((s) => s.instructions).map((i) => i.args).join("\n");
        expect(cpuRuns).toContain("node_modules/@node-llama-cpp/linux-x64-cuda ");
        expect(cpuRuns).toContain("node_modules/@node-llama-cpp/linux-x64-vulkan");
        expect(copies("prod-cpu").some((c) => (c.from ?? "").startsWith("cuda") || c.from === "engine-rocm")).toBe(false);

        const prodModules = copies("prod").find((c) => c.dest === "./node_modules")!;
        const prodRuns = ancestry(prodModules.from!).flatMap((s) => s.instructions).map((i) => i.args).join("\n");
        expect(prodRuns).not.toContain("linux-x64-cuda");
        expect(copies("prod")).toContainEqual(expect.objectContaining({
            from: "engine-rocm", sources: ["/out/localBuilds"], dest: "./node_modules/node-llama-cpp/llama/localBuilds",
        }));
        for (const b of ["cuda", "rocm"]) {
            expect(copies("prod")).toContainEqual(expect.objectContaining({ from: `engine-${b}`, dest: `/opt/mentator-llm-service/engines/${b}` }));
        }
    });

    it("ships only libcudart, libcublas and libcublasLt of the CUDA toolkit", () => {
        const cudaCopies = copies("prod").filter((c) => (c.from ?? "").startsWith("cuda"));
        expect(cudaCopies.map((c) => c.dest)).toEqual(["/opt/mentator-llm-service/lib/cuda", "/opt/mentator-llm-service/lib/cuda"]);
        for (const c of cudaCopies) {
            const run = stageNamed(c.from!).instructions.filter((i) => i.keyword === "RUN").map((i) => i.args).join(" ");
            const libs = [...new Set(run.match(/lib[A-Za-z]+(?=\.so)/g))].sort();
            expect(libs).toEqual(["libcublas", "libcublasLt", "libcudart"]);
        }
        expect(stageNamed("engine-cuda").instructions.map((i) => i.args).join("\n")).toMatch(/build-llama\.sh --backend cuda/);
    });

    it("builds ROCm from node-llama-cpp's llama.cpp source in a separate stage", () => {
        const rocm = stageNamed("engine-rocm");
        expect(rocm.base).toContain("rocm/dev-ubuntu");
        const run = rocm.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args).join("\n");
        expect(run).toMatch(/build-llama\.sh --backend rocm --nlc \/src\/node_modules\/node-llama-cpp/);
        expect(run).toMatch(/collect-libs\.sh --rocm-kernels/);
        expect(readFileSync(join(REPO_ROOT, "docker", "build-llama.sh"), "utf8")).toContain("gitRelease.bundle");
    });

    it("dev has the sources, the dev dependencies and runs the tests", () => {
        const dev = copies("dev");
        expect(dev).toContainEqual(expect.objectContaining({ from: "deps", dest: "./node_modules" }));
        expect(dev.some((c) => c.from === undefined && c.sources.includes("."))).toBe(true);
        expect(all("dev", "CMD").map((c) => JSON.parse(c.args))).toContainEqual(["npm", "test"]);
        expect(all("dev", "RUN").map((r) => r.args).join("\n")).toContain("shellcheck");
    });

    it("copies only files that exist and that .dockerignore lets through", () => {
        const ignored = readFileSync(join(REPO_ROOT, ".dockerignore"), "utf8").split("\n")
            .map((l) => l.trim()).filter((l) => l && !l.startsWith("#") && !l.startsWith("!") && !l.includes("*"));
        for (const c of stages.flatMap((s) => s.instructions.filter((i) => i.keyword === "COPY"))) {
            if (/--from=/.test(c.args)) continue;
            const sources = c.args.split(" ").filter((p) => !p.startsWith("--")).slice(0, -1);
            for (const src of sources) {
                if (src === ".") continue;
                expect(existsSync(join(REPO_ROOT, src)), `COPY ${src} (line ${c.line})`).toBe(true);
                expect(ignored.some((i) => src === i || src.startsWith(i + "/")), `${src} is in .dockerignore`).toBe(false);
            }
        }
    });
});

describe(".dockerignore", () => {
    const lines = readFileSync(join(REPO_ROOT, ".dockerignore"), "utf8").split("\n").map((l) => l.trim());
    it("keeps local state and build output out of the context, but lets the staged default model in", () => {
        for (const entry of [".git", "node_modules", "distjs", "data", "**/*.gguf", "!docker/default-models/*.gguf"]) {
            expect(lines).toContain(entry);
        }
        expect(lines.indexOf("!docker/default-models/*.gguf")).toBeGreaterThan(lines.indexOf("**/*.gguf"));
    });
});
