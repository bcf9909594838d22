#!/usr/bin/env node
// Builds the Docker image (docker/Dockerfile) and optionally pushes it. Run `npm run build:docker -- --help`.
//
// Tags: <name>:latest and <name>:<package.json version>, suffixed with the variant for non-default targets
// (prod-cpu -> latest-cpu, 0.1.0-cpu; dev -> latest-dev, 0.1.0-dev). The model given by --model (or
// MENTATOR_DEFAULT_MODEL) is placed in docker/default-models/ for the build and removed afterwards.
// MENTATOR_BUILD_ROOT overrides the build context (tests).
import { spawnSync } from "node:child_process";
import { closeSync, copyFileSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const TARGETS = { prod: "", "prod-cpu": "-cpu", dev: "-dev" };
const DEFAULT_NAME = "mentator-llm-service";
const USAGE = `Usage: npm run build:docker -- [options] [-- extra docker build args]

  --target prod|prod-cpu|dev  image target (default prod: CPU + CUDA + Vulkan + ROCm)
  --model PATH                GGUF baked in as the default model (or MENTATOR_DEFAULT_MODEL)
  --name NAME                 image name (default ${DEFAULT_NAME})
  --registry REG              registry/namespace prefix, e.g. ghcr.io/acme (or DOCKER_REGISTRY)
  --push                      push every tag after the build (or DOCKER_PUSH=1); needs --registry
  --build-arg K=V             passed to docker build (repeatable), e.g. CUDA_ARCHITECTURES=90-real
  --platform P                passed to docker build (default linux/amd64)
  --help                      this text`;

class UsageError extends Error {}

function fail(message, code) {
    process.stderr.write(`build-docker: ${message}\n`);
    process.exit(code);
}

function parseArgs(argv) {
    const opts = {
        target: "prod",
        model: process.env.MENTATOR_DEFAULT_MODEL || undefined,
        name: DEFAULT_NAME,
        registry: process.env.DOCKER_REGISTRY || undefined,
        push: process.env.DOCKER_PUSH === "1" || process.env.DOCKER_PUSH === "true",
        buildArgs: [],
        platform: "linux/amd64",
        extra: [],
        help: false,
    };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) throw new UsageError(`${arg} needs a value`);
            return v;
        };
        switch (arg) {
            case "--target": opts.target = value(); break;
            case "--model": opts.model = value(); break;
            case "--name": opts.name = value(); break;
            case "--registry": opts.registry = value(); break;
            case "--push": opts.push = true; break;
            case "--build-arg": opts.buildArgs.push(value()); break;
            case "--platform": opts.platform = value(); break;
            case "--help": case "-h": opts.help = true; break;
            case "--": opts.extra = argv.slice(i + 1); i = argv.length; break;
            default: throw new UsageError(`unknown option ${arg}`);
        }
    }
    if (!(opts.target in TARGETS)) {
        throw new UsageError(`--target ${opts.target}: expected one of ${Object.keys(TARGETS).join(", ")}`);
    }
    for (const a of opts.buildArgs) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(a)) throw new UsageError(`--build-arg ${a}: expected KEY=VALUE`);
    }
    if (opts.push && !opts.registry) {
        throw new UsageError("--push needs --registry (e.g. --registry ghcr.io/acme), or DOCKER_REGISTRY");
    }
    return opts;
}

function run(cmd, args, { capture = false } = {}) {
    const res = spawnSync(cmd, args, {
        stdio: capture ? ["ignore", "pipe", "pipe"] : "inherit",
        encoding: "utf8",
        env: { ...process.env, DOCKER_BUILDKIT: "1" },
    });
    return res;
}

function checkDocker() {
    const cli = run("docker", ["--version"], { capture: true });
    if (cli.error?.code === "ENOENT") {
        fail("the docker CLI was not found on PATH. Install Docker (https://docs.docker.com/engine/install/) " +
            "or Docker Desktop, then run this again.", 1);
    }
    if (cli.error || cli.status !== 0) fail(`\`docker --version\` failed: ${cli.error?.message ?? cli.stderr.trim()}`, 1);
    const info = run("docker", ["info", "--format", "{{.ServerVersion}}"], { capture: true });
    if (info.status !== 0 || !info.stdout.trim()) {
        const why = (info.stderr || info.stdout || "").trim();
        fail(`the Docker daemon is not reachable (${why || "no answer"}). Start Docker (systemctl start docker, ` +
            "or Docker Desktop), check DOCKER_HOST, and that your user may use /var/run/docker.sock " +
            "(the docker group).", 1);
    }
    return { client: cli.stdout.trim(), server: info.stdout.trim() };
}

function checkModel(path) {
    if (!existsSync(path)) throw new UsageError(`--model ${path}: file not found`);
    const st = statSync(path);
    if (!st.isFile()) throw new UsageError(`--model ${path}: not a regular file`);
    if (!path.endsWith(".gguf")) throw new UsageError(`--model ${path}: expected a .gguf file`);
    const fd = openSync(path, "r");
    const magic = Buffer.alloc(4);
    try {
        readSync(fd, magic, 0, 4, 0);
    } finally {
        closeSync(fd);
    }
    if (magic.toString("latin1") !== "GGUF") throw new UsageError(`--model ${path}: not a GGUF file (bad magic)`);
    return st.size;
}

// Hard link when the model is on the same filesystem (multi-GB models), copy otherwise. Returns the staged path
// to remove after the build, or undefined when the model already sits in the context.
function stageModel(model, dir) {
    mkdirSync(dir, { recursive: true });
    const dest = join(dir, basename(model));
    for (const f of readdirSync(dir)) {
        if (f.endsWith(".gguf") && join(dir, f) !== dest) {
            console.warn(`build-docker: ${join(dir, f)} is in the build context too and will be baked in`);
        }
    }
    if (existsSync(dest)) {
        const [a, b] = [statSync(dest), statSync(model)];
        if (a.ino === b.ino && a.dev === b.dev) return undefined;
        throw new UsageError(`${dest} already exists and is not ${model}; move it away first`);
    }
    try {
        linkSync(model, dest);
    } catch {
        copyFileSync(model, dest);
    }
    return dest;
}

function formatSize(bytes) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = bytes;
    let u = 0;
    while (v >= 1024 && u < units.length - 1) {
        v /= 1024;
        u++;
    }
    return `${v.toFixed(u === 0 ? 0 : 2)} ${units[u]}`;
}

function main() {
    let opts;
    try {
        opts = parseArgs(process.argv.slice(2));
        if (opts.help) {
            process.stdout.write(USAGE + "\n");
            return;
        }
        if (opts.model) checkModel(resolve(opts.model));
    } catch (err) {
        if (err instanceof UsageError) fail(`${err.message}\n\n${USAGE}`, 2);
        throw err;
    }

    const root = process.env.MENTATOR_BUILD_ROOT
        ? resolve(process.env.MENTATOR_BUILD_ROOT)
        : dirname(dirname(fileURLToPath(import.meta.url)));
    const dockerfile = join(root, "docker", "Dockerfile");
    if (!existsSync(dockerfile)) fail(`${dockerfile} not found`, 1);
    const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    if (typeof version !== "string" || !version) fail(`${join(root, "package.json")} has no version`, 1);

    const { client, server } = checkDocker();
    console.log(`build-docker: ${client}, daemon ${server}`);

    const suffix = TARGETS[opts.target];
    const repo = opts.registry ? `${opts.registry.replace(/\/+$/, "")}/${opts.name}` : opts.name;
    const tags = [`${repo}:latest${suffix}`, `${repo}:${version}${suffix}`];

    const modelsDir = join(root, "docker", "default-models");
    let staged;
    if (opts.model) {
        const model = resolve(opts.model);
        try {
            staged = stageModel(model, modelsDir);
        } catch (err) {
            if (err instanceof UsageError) fail(err.message, 2);
            throw err;
        }
        console.log(`build-docker: default model ${basename(model)} (${formatSize(statSync(model).size)})`);
    } else {
        console.warn("build-docker: no --model (or MENTATOR_DEFAULT_MODEL): the image has no default model; " +
            "users must put a GGUF in the data volume's models/ dir");
    }

    // Ctrl-C reaches docker too (same process group); staying alive until it exits lets the staged model go.
    const ignore = () => {};
    process.on("SIGINT", ignore);
    process.on("SIGTERM", ignore);
    let build;
    try {
        const args = ["build", "-f", dockerfile, "--target", opts.target, "--platform", opts.platform];
        for (const t of tags) args.push("-t", t);
        for (const a of opts.buildArgs) args.push("--build-arg", a);
        args.push(...opts.extra, root);
        console.log(`build-docker: docker ${args.join(" ")}`);
        build = run("docker", args);
    } finally {
        if (staged) rmSync(staged, { force: true });
        process.off("SIGINT", ignore);
        process.off("SIGTERM", ignore);
    }
    if (build.status !== 0) fail(`docker build failed (${build.status != null ? `exit ${build.status}` : build.signal})`, 1);

    const inspect = run("docker", ["image", "inspect", "--format", "{{.Size}}", tags[1]], { capture: true });
    const size = Number(inspect.stdout?.trim());
    if (inspect.status !== 0 || !Number.isFinite(size)) {
        fail(`could not read the size of ${tags[1]}: ${(inspect.stderr || "").trim()}`, 1);
    }
    console.log(`build-docker: built ${tags.join(", ")}; image size ${formatSize(size)} (${size} bytes)`);

    if (opts.push) {
        for (const t of tags) {
            const push = run("docker", ["push", t]);
            if (push.status !== 0) fail(`docker push ${t} failed (exit ${push.status}); are you logged in (docker login)?`, 1);
        }
        console.log(`build-docker: pushed ${tags.join(", ")}`);
    }
}

main();
