// .auto/build-docker.js with a stub `docker` that records its arguments, and with no docker at all.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { REPO_ROOT, Sandbox } from "../helpers/deploySandbox.js";

const SCRIPT = join(REPO_ROOT, ".auto", "build-docker.js");
const GGUF = Buffer.concat([Buffer.from("GGUF"), Buffer.alloc(100, 3)]);

let sb: Sandbox;
let ctx: string;

// docker --version / info / build / image inspect / push. `build` records which default models the context
// holds while it runs; STUB_DOCKER_DAEMON=down and STUB_DOCKER_BUILD=fail simulate failures.
const DOCKER_STUB = `
const path = require("node:path");
const [cmd, sub] = argv;
if (cmd === "--version") { console.log("Docker version 28.2.2, build e6534b4"); process.exit(0); }
if (cmd === "info") {
    if (process.env.STUB_DOCKER_DAEMON === "down") {
        console.error("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?");
        process.exit(1);
    }
    console.log("28.2.2"); process.exit(0);
}
if (cmd === "build") {
    const dir = path.join(argv[argv.length - 1], "docker", "default-models");
    const models = fs.readdirSync(dir).filter((f) => f.endsWith(".gguf"))
        .map((f) => ({ name: f, bytes: fs.readFileSync(path.join(dir, f)).length }));
    fs.writeFileSync(process.env.STUB_BUILD_CONTEXT, JSON.stringify(models));
    process.exit(process.env.STUB_DOCKER_BUILD === "fail" ? 3 : 0);
}
if (cmd === "image" && sub === "inspect") { console.log("1234567890"); process.exit(0); }
if (cmd === "push") process.exit(process.env.STUB_DOCKER_PUSH === "fail" ? 1 : 0);
console.error("stub docker: unexpected " + argv.join(" ")); process.exit(99);
`;

function build(args: string[], env: Record<string, string> = {}) {
    return sb.run(process.execPath, [SCRIPT, ...args], {
        MENTATOR_BUILD_ROOT: ctx,
        STUB_BUILD_CONTEXT: sb.path("build-context.json"),
        ...env,
    });
}

function dockerArgs(): string[][] {
    return sb.calls("docker").map((c) => c.argv);
}

beforeEach(() => {
    sb = new Sandbox();
    sb.stub("docker", { body: DOCKER_STUB });
    ctx = sb.path("context");
    mkdirSync(join(ctx, "docker", "default-models"), { recursive: true });
    writeFileSync(join(ctx, "docker", "Dockerfile"), "FROM scratch\n");
    writeFileSync(join(ctx, "docker", "default-models", ".gitkeep"), "");
    writeFileSync(join(ctx, "package.json"), JSON.stringify({ name: "mentator-llm-service", version: "9.8.7" }));
    writeFileSync(sb.path("tiny.gguf"), GGUF);
});

afterEach(() => sb.dispose());

describe("build-docker.js with a stub docker", () => {
    it("builds the prod target with the latest and version tags and prints the size", () => {
        const r = build(["--model", sb.path("tiny.gguf")]);
        expect(r.stderr).not.toContain("error");
        expect(r.status).toBe(0);
        const calls = dockerArgs();
        expect(calls[0]).toEqual(["--version"]);
        expect(calls[1]).toEqual(["info", "--format", "{{.ServerVersion}}"]);
        expect(calls[2]).toEqual([
            "build", "-f", join(ctx, "docker", "Dockerfile"), "--target", "prod", "--platform", "linux/amd64",
            "-t", "mentator-llm-service:latest", "-t", "mentator-llm-service:9.8.7", ctx,
        ]);
        expect(calls[3]).toEqual(["image", "inspect", "--format", "{{.Size}}", "mentator-llm-service:9.8.7"]);
        expect(calls).toHaveLength(4);
        expect(sb.calls("docker")[2]?.env.DOCKER_BUILDKIT).toBe("1");
        expect(r.stdout).toContain("image size 1.15 GiB (1234567890 bytes)");
    });

    it("stages the model in the build context only for the build", () => {
        const r = build(["--model", sb.path("tiny.gguf")]);
        expect(r.status).toBe(0);
        expect(JSON.parse(readFileSync(sb.path("build-context.json"), "utf8"))).toEqual([{ name: "tiny.gguf", bytes: GGUF.length }]);
        expect(readdirSync(join(ctx, "docker", "default-models"))).toEqual([".gitkeep"]);
    });

    it("takes the model from MENTATOR_DEFAULT_MODEL", () => {
        const r = build([], { MENTATOR_DEFAULT_MODEL: sb.path("tiny.gguf") });
        expect(r.status).toBe(0);
        expect(JSON.parse(readFileSync(sb.path("build-context.json"), "utf8"))).toEqual([{ name: "tiny.gguf", bytes: GGUF.length }]);
    });

    it("warns when the image gets no default model", () => {
        const r = build([]);
        expect(r.status).toBe(0);
        expect(r.stderr).toContain("the image has no default model");
        expect(JSON.parse(readFileSync(sb.path("build-context.json"), "utf8"))).toEqual([]);
    });

    it("suffixes non-default targets, passes build args and pushes every tag to the registry", () => {
        const r = build([
            "--target", "prod-cpu", "--model", sb.path("tiny.gguf"), "--registry", "ghcr.io/acme/", "--push",
            "--build-arg", "CUDA_ARCHITECTURES=90-real", "--", "--no-cache",
        ]);
        expect(r.status).toBe(0);
        const calls = dockerArgs();
        expect(calls[2]).toEqual([
            "build", "-f", join(ctx, "docker", "Dockerfile"), "--target", "prod-cpu", "--platform", "linux/amd64",
            "-t", "ghcr.io/acme/mentator-llm-service:latest-cpu", "-t", "ghcr.io/acme/mentator-llm-service:9.8.7-cpu",
            "--build-arg", "CUDA_ARCHITECTURES=90-real", "--no-cache", ctx,
        ]);
        expect(calls[3]).toEqual(["image", "inspect", "--format", "{{.Size}}", "ghcr.io/acme/mentator-llm-service:9.8.7-cpu"]);
        expect(calls.slice(4)).toEqual([
            ["push", "ghcr.io/acme/mentator-llm-service:latest-cpu"],
            ["push", "ghcr.io/acme/mentator-llm-service:9.8.7-cpu"],
        ]);
        expect(r.stdout).toContain("pushed");
    });

    it("pushes with DOCKER_PUSH=1 and DOCKER_REGISTRY, dev target suffixed -dev", () => {
        const r = build(["--target", "dev"], { DOCKER_PUSH: "1", DOCKER_REGISTRY: "registry.example:5000/team" });
        expect(r.status).toBe(0);
        expect(dockerArgs().filter((a) => a[0] === "push")).toEqual([
            ["push", "registry.example:5000/team/mentator-llm-service:latest-dev"],
            ["push", "registry.example:5000/team/mentator-llm-service:9.8.7-dev"],
        ]);
    });

    it("fails when the build fails, and still removes the staged model", () => {
        const r = build(["--model", sb.path("tiny.gguf")], { STUB_DOCKER_BUILD: "fail" });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("docker build failed (exit 3)");
        expect(dockerArgs().map((a) => a[0])).toEqual(["--version", "info", "build"]);
        expect(existsSync(join(ctx, "docker", "default-models", "tiny.gguf"))).toBe(false);
    });

    it("fails when a push fails, naming the tag", () => {
        const r = build(["--registry", "ghcr.io/acme", "--push"], { STUB_DOCKER_PUSH: "fail" });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("docker push ghcr.io/acme/mentator-llm-service:latest failed");
    });

    it("explains an unreachable daemon", () => {
        const r = build([], { STUB_DOCKER_DAEMON: "down" });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/the Docker daemon is not reachable \(Cannot connect to the Docker daemon.*\)\. Start Docker/);
        expect(dockerArgs().map((a) => a[0])).toEqual(["--version", "info"]);
    });
});

describe("build-docker.js: usage errors (exit 2, before docker runs)", () => {
    it.each([
        [["--target", "gpu"], "--target gpu: expected one of prod, prod-cpu, dev"],
        [["--push"], "--push needs --registry"],
        [["--model"], "--model needs a value"],
        [["--build-arg", "nokey"], "--build-arg nokey: expected KEY=VALUE"],
        [["--frobnicate"], "unknown option --frobnicate"],
    ])("%j", (args, message) => {
        const r = build(args);
        expect(r.status).toBe(2);
        expect(r.stderr).toContain(message);
        expect(dockerArgs()).toEqual([]);
    });

    it("rejects a missing model file", () => {
        const r = build(["--model", sb.path("nope.gguf")]);
        expect(r.status).toBe(2);
        expect(r.stderr).toContain(`--model ${sb.path("nope.gguf")}: file not found`);
    });

    it("rejects a file that is not GGUF", () => {
        writeFileSync(sb.path("fake.gguf"), "PK\u0003\u0004 zip");
        const r = build(["--model", sb.path("fake.gguf")]);
        expect(r.status).toBe(2);
        expect(r.stderr).toContain("not a GGUF file");
    });

    it("refuses to overwrite a different file of the same name in the context", () => {
        writeFileSync(join(ctx, "docker", "default-models", "tiny.gguf"), "GGUF other");
        const r = build(["--model", sb.path("tiny.gguf")]);
        expect(r.status).toBe(2);
        expect(r.stderr).toContain("already exists and is not");
        expect(readFileSync(join(ctx, "docker", "default-models", "tiny.gguf"), "utf8")).toBe("GGUF other");
    });
});

describe("build-docker.js without docker", () => {
    it("says the docker CLI is missing and exits non-zero", () => {
        const empty = new Sandbox();
        try {
            const r = empty.run(process.execPath, [SCRIPT], { MENTATOR_BUILD_ROOT: ctx });
            expect(r.status).toBe(1);
            expect(r.stderr).toContain("the docker CLI was not found on PATH. Install Docker");
        } finally {
            empty.dispose();
        }
    });
});
