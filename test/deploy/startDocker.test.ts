// docker/start-docker.sh outside Docker: a temporary MENTATOR_ROOT, stub nvidia-smi/rocm-smi/node/id/setpriv,
// fake device nodes under MENTATOR_DEV_ROOT, and the exec'd command recorded by the stub node.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { REPO_ROOT, Sandbox, type StubCall } from "../helpers/deploySandbox.js";

const SCRIPT = join(REPO_ROOT, "docker", "start-docker.sh");
const GGUF = Buffer.concat([Buffer.from("GGUF"), Buffer.alloc(60, 7)]);

let sb: Sandbox;
let root: string;
let dev: string;

/** Runs the entrypoint as a non-root uid unless a test stubs `id` otherwise. */
function start(env: Record<string, string> = {}, args: string[] = []) {
    const res = sb.run(SCRIPT, args, {
        MENTATOR_ROOT: root,
        MENTATOR_DEV_ROOT: dev,
        STUB_UID: "1000",
        ...env,
    });
    return { ...res, node: sb.calls("node") };
}

function onlyExec(calls: StubCall[]): StubCall {
    expect(calls).toHaveLength(1);
    return calls[0]!;
}

function touch(path: string, content: string | Buffer = ""): void {
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, content);
}

beforeEach(() => {
    sb = new Sandbox().linkTools();
    root = sb.path("root");
    dev = sb.path("devroot");
    mkdirSync(dev);
    touch(join(root, "app", "distjs", "index.js"), "// app\n");
    touch(join(root, "default-models", "tiny.gguf"), GGUF);
    touch(join(root, "default-models", ".gitkeep"));
    mkdirSync(join(root, "lib", "cuda"), { recursive: true });
    mkdirSync(join(root, "lib", "rocm"), { recursive: true });
    sb.stub("node");
    // `id -u` answers STUB_UID; `id -u NAME` / `id -g NAME` answer STUB_USER_ID for the unprivileged user
    sb.stub("id", {
        body: `
const name = argv.find((a) => !a.startsWith("-"));
if (name !== undefined) {
    if (!process.env.STUB_USER_ID) { console.error("id: '" + name + "': no such user"); process.exit(1); }
    console.log(process.env.STUB_USER_ID);
} else {
    console.log(argv.includes("-g") ? (process.env.STUB_GID ?? process.env.STUB_UID) : process.env.STUB_UID);
}`,
    });
});

afterEach(() => sb.dispose());

describe("start-docker.sh: compute mode", () => {
    it("selects CUDA when nvidia-smi lists a GPU, and execs the Docker-mode server", () => {
        sb.stub("nvidia-smi", { body: `console.log("NVIDIA H100 80GB HBM3, 580.65.06, 81559 MiB");` });
        const r = start({ LD_LIBRARY_PATH: "/usr/local/lib" });
        expect(r.status).toBe(0);
        expect(r.stderr).toMatch(/mode=cuda \(nvidia-smi sees 1 GPU\(s\): NVIDIA H100 80GB HBM3/);
        const call = onlyExec(r.node);
        expect(call.argv).toEqual([
            join(root, "app", "distjs", "index.js"),
            "--conf-docker",
            join(root, "data", "mentator-llm-service.conf.jsonc"),
        ]);
        expect(call.cwd).toBe(join(root, "app"));
        expect(call.env.MENTATOR_GPU).toBe("cuda");
        expect(call.env.LD_LIBRARY_PATH).toBe(`${join(root, "lib", "cuda")}:/usr/local/lib`);
        expect(call.env.MENTATOR_HOME).toBe(join(root, "data"));
        expect(r.stderr).not.toMatch(/older than 580/);
    });

    it("warns when the NVIDIA driver predates CUDA 13", () => {
        sb.stub("nvidia-smi", { body: `console.log("NVIDIA A40, 550.54.15, 46068 MiB");` });
        const r = start();
        expect(r.status).toBe(0);
        expect(r.stderr).toMatch(/driver 550\.54\.15 is older than 580/);
        expect(onlyExec(r.node).env.MENTATOR_GPU).toBe("cuda");
    });

    it("selects CUDA from /dev/nvidia0 when nvidia-smi fails", () => {
        sb.stub("nvidia-smi", { body: `console.error("NVIDIA-SMI has failed"); process.exit(9);` });
        touch(join(dev, "dev", "nvidia0"));
        touch(join(dev, "dev", "nvidiactl"));
        const r = start();
        expect(r.status).toBe(0);
        expect(r.stderr).toContain(`mode=cuda (${join(dev, "dev", "nvidia0")} exists (nvidia-smi failed))`);
        expect(onlyExec(r.node).env.MENTATOR_GPU).toBe("cuda");
    });

    it("selects ROCm when rocm-smi sees a GPU, with the ROCm libraries", () => {
        sb.stub("rocm-smi", { body: `console.log("GPU[0] : Card series: AMD Instinct MI300X");` });
        const r = start();
        expect(r.status).toBe(0);
        expect(r.stderr).toContain("mode=rocm (rocm-smi sees an AMD GPU)");
        const env = onlyExec(r.node).env;
        expect(env.MENTATOR_GPU).toBe("rocm");
        expect(env.LD_LIBRARY_PATH).toBe(join(root, "lib", "rocm"));
        expect(env.ROCBLAS_TENSILE_LIBPATH).toBe(join(root, "lib", "rocm", "rocblas", "library"));
        expect(env.HIPBLASLT_TENSILE_LIBPATH).toBe(join(root, "lib", "rocm", "hipblaslt", "library"));
        expect(sb.calls("rocm-smi")[0]?.argv).toEqual(["--showproductname"]);
    });

    it("selects ROCm from /dev/kfd and /dev/dri without rocm-smi", () => {
        touch(join(dev, "dev", "kfd"));
        touch(join(dev, "dev", "dri", "renderD128"));
        const r = start();
        expect(r.status).toBe(0);
        expect(r.stderr).toContain(`mode=rocm (${join(dev, "dev", "kfd")} and ${join(dev, "dev", "dri")} exist (no rocm-smi))`);
        expect(onlyExec(r.node).env.MENTATOR_GPU).toBe("rocm");
    });

    it("prefers NVIDIA over AMD when both are present", () => {
        sb.stub("nvidia-smi", { body: `console.log("NVIDIA L4, 590.1, 23034 MiB");` });
        sb.stub("rocm-smi");
        touch(join(dev, "dev", "kfd"));
        touch(join(dev, "dev", "dri", "renderD128"));
        const r = start();
        expect(onlyExec(r.node).env.MENTATOR_GPU).toBe("cuda");
        expect(sb.calls("rocm-smi")).toHaveLength(0);
    });

    it("uses Vulkan for an AMD GPU architecture the image's ROCm build does not cover", () => {
        touch(join(dev, "dev", "kfd"));
        touch(join(dev, "dev", "dri", "renderD128"));
        touch(join(dev, "sys", "class", "kfd", "kfd", "topology", "nodes", "0", "properties"), "cpu_cores_count 16\ngfx_target_version 0\n");
        touch(join(dev, "sys", "class", "kfd", "kfd", "topology", "nodes", "1", "properties"), "simd_count 40\ngfx_target_version 100302\n");
        writeFileSync(join(root, "lib", "rocm", "targets.txt"), "gfx90a\ngfx1030\ngfx1100\n");
        const r = start();
        expect(r.status).toBe(0);
        expect(r.stderr).toMatch(/mode=vulkan \(.*GPU arch gfx1032 not in this image's ROCm build/);
        const env = onlyExec(r.node).env;
        expect(env.MENTATOR_GPU).toBe("vulkan");
        expect(env.LD_LIBRARY_PATH).toBeUndefined();
    });

    it("keeps ROCm for a covered architecture (gfx_target_version 90010 is gfx90a)", () => {
        touch(join(dev, "dev", "kfd"));
        touch(join(dev, "dev", "dri", "renderD128"));
        touch(join(dev, "sys", "class", "kfd", "kfd", "topology", "nodes", "1", "properties"), "gfx_target_version 90010\n");
        writeFileSync(join(root, "lib", "rocm", "targets.txt"), "gfx90a;gfx1030\n");
        expect(onlyExec(start().node).env.MENTATOR_GPU).toBe("rocm");
    });

    it("checks HSA_OVERRIDE_GFX_VERSION instead of the GPU's own architecture", () => {
        touch(join(dev, "dev", "kfd"));
        touch(join(dev, "dev", "dri", "renderD128"));
        touch(join(dev, "sys", "class", "kfd", "kfd", "topology", "nodes", "1", "properties"), "gfx_target_version 100302\n");
        writeFileSync(join(root, "lib", "rocm", "targets.txt"), "gfx90a;gfx1030\n");
        expect(onlyExec(start({ HSA_OVERRIDE_GFX_VERSION: "10.3.0" }).node).env.MENTATOR_GPU).toBe("rocm");
    });

    it("falls back to the CPU with the reasons when no GPU is found", () => {
        touch(join(dev, "dev", "kfd")); // a kfd node without /dev/dri is not a usable AMD GPU
        const r = start({ LD_LIBRARY_PATH: "/x" });
        expect(r.status).toBe(0);
        expect(r.stderr).toMatch(/mode=cpu \(no NVIDIA GPU \(no nvidia-smi, no .*\/dev\/nvidia\*\) and no AMD GPU \(no rocm-smi, no .*\/dev\/kfd \+ .*\/dev\/dri\)\)/);
        const env = onlyExec(r.node).env;
        expect(env.MENTATOR_GPU).toBe("cpu");
        expect(env.LD_LIBRARY_PATH).toBe("/x");
    });

    it("respects MENTATOR_GPU set by the user without probing", () => {
        sb.stub("nvidia-smi", { body: `console.log("NVIDIA H100, 580.1, 1 MiB");` });
        const r = start({ MENTATOR_GPU: "vulkan" });
        expect(r.status).toBe(0);
        expect(r.stderr).toContain("mode=vulkan (MENTATOR_GPU=vulkan set by the user)");
        expect(onlyExec(r.node).env.MENTATOR_GPU).toBe("vulkan");
        expect(sb.calls("nvidia-smi")).toHaveLength(0);
    });

    it("detects when MENTATOR_GPU=auto", () => {
        sb.stub("nvidia-smi", { body: `console.log("NVIDIA H100, 580.1, 1 MiB");` });
        expect(onlyExec(start({ MENTATOR_GPU: "auto" }).node).env.MENTATOR_GPU).toBe("cuda");
    });

    it("rejects an unknown MENTATOR_GPU with exit code 2", () => {
        const r = start({ MENTATOR_GPU: "metal" });
        expect(r.status).toBe(2);
        expect(r.stderr).toContain("MENTATOR_GPU=metal is not one of auto, cuda, rocm, vulkan, cpu");
        expect(r.node).toHaveLength(0);
    });

    it("runs on the CPU in an image without the GPU runtime (prod-cpu) and says why", () => {
        sb.stub("nvidia-smi", { body: `console.log("NVIDIA H100, 580.1, 1 MiB");` });
        const noGpuRoot = sb.path("root-cpu");
        touch(join(noGpuRoot, "app", "distjs", "index.js"));
        const r = start({ MENTATOR_ROOT: noGpuRoot });
        expect(r.status).toBe(0);
        expect(r.stderr).toMatch(/mode=cpu \(nvidia-smi sees .*, but this image has no CUDA runtime/);
        expect(onlyExec(r.node).env.MENTATOR_GPU).toBe("cpu");
    });
});

describe("start-docker.sh: default models", () => {
    const models = () => join(root, "data", "models");

    it("copies the default models into an empty models dir", () => {
        writeFileSync(join(root, "default-models", "mentator.lock.json"), "{\"models\":[]}\n");
        const r = start();
        expect(r.status).toBe(0);
        expect(readFileSync(join(models(), "tiny.gguf"))).toEqual(GGUF);
        expect(readFileSync(join(models(), "mentator.lock.json"), "utf8")).toBe("{\"models\":[]}\n");
        expect(readdirSync(models()).sort()).toEqual(["mentator.lock.json", "tiny.gguf"]);
        expect(r.stderr).toContain(`models: copying default tiny.gguf into ${models()}`);
    });

    it("leaves a models dir that holds a GGUF untouched", () => {
        touch(join(models(), "mine.gguf"), "GGUFmine");
        const before = statSync(join(models(), "mine.gguf")).mtimeMs;
        const r = start();
        expect(r.status).toBe(0);
        expect(readdirSync(models())).toEqual(["mine.gguf"]);
        expect(statSync(join(models(), "mine.gguf")).mtimeMs).toBe(before);
        expect(r.stderr).toContain("already holds GGUF files; default models not copied");
    });

    it("is idempotent: a second start copies nothing", () => {
        expect(start().status).toBe(0);
        const first = statSync(join(models(), "tiny.gguf")).mtimeMs;
        const r = start();
        expect(r.status).toBe(0);
        expect(statSync(join(models(), "tiny.gguf")).mtimeMs).toBe(first);
        expect(r.stderr).not.toContain("copying default");
    });

    it("never overwrites a user's file of the same name, and removes leftovers of an interrupted copy", () => {
        writeFileSync(join(root, "default-models", "mentator.lock.json"), "default lock\n");
        touch(join(models(), "mentator.lock.json"), "user lock\n");
        touch(join(models(), ".tiny.gguf.seed-tmp.4242"), "half a copy");
        const r = start();
        expect(r.status).toBe(0);
        expect(readFileSync(join(models(), "mentator.lock.json"), "utf8")).toBe("user lock\n");
        expect(readFileSync(join(models(), "tiny.gguf"))).toEqual(GGUF);
        expect(readdirSync(models()).sort()).toEqual(["mentator.lock.json", "tiny.gguf"]);
        expect(r.stderr).toContain("keeping existing");
    });

    it("says what to do when there is no model at all", () => {
        const emptyRoot = sb.path("root-empty");
        touch(join(emptyRoot, "app", "distjs", "index.js"));
        const r = start({ MENTATOR_ROOT: emptyRoot });
        expect(r.status).toBe(0);
        expect(r.stderr).toMatch(/no GGUF in .* and no default models in .*; put a model there/);
    });

    it("honours MENTATOR_HOME and MODELS_DIR", () => {
        const home = sb.path("volume", "mentator");
        const modelsDir = sb.path("volume", "models");
        const r = start({ MENTATOR_HOME: home, MODELS_DIR: modelsDir });
        expect(r.status).toBe(0);
        expect(existsSync(join(modelsDir, "tiny.gguf"))).toBe(true);
        const call = onlyExec(r.node);
        expect(call.argv.slice(1)).toEqual(["--conf-docker", join(home, "mentator-llm-service.conf.jsonc")]);
        expect(call.env.MENTATOR_HOME).toBe(home);
    });
});

describe("start-docker.sh: command and errors", () => {
    it("runs a mentator subcommand (the serverless worker) with the same setup", () => {
        const r = start({}, ["worker"]);
        expect(r.status).toBe(0);
        expect(onlyExec(r.node).argv).toEqual([join(root, "app", "distjs", "index.js"), "worker"]);
    });

    it("runs another command as given", () => {
        sb.stub("mytool");
        const r = start({}, ["mytool", "--flag", "x y"]);
        expect(r.status).toBe(0);
        expect(r.node).toHaveLength(0);
        const call = onlyExec(sb.calls("mytool"));
        expect(call.argv).toEqual(["--flag", "x y"]);
        expect(call.env.MENTATOR_GPU).toBe("cpu");
    });

    it("passes the exit status of the service through (exec)", () => {
        sb.stub("node", { body: "process.exit(7);" });
        expect(start().status).toBe(7);
    });

    it("fails clearly when the app is missing", () => {
        const r = start({ MENTATOR_APP_DIR: sb.path("nowhere") });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`${sb.path("nowhere")}/distjs/index.js not found`);
    });

    it("fails clearly when the data dir cannot be created", () => {
        touch(sb.path("a-file"));
        const r = start({ MENTATOR_HOME: sb.path("a-file", "data") });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("cannot create");
        expect(r.node).toHaveLength(0);
    });

    it.skipIf(process.getuid?.() === 0)("fails clearly when a non-root user cannot write the data dir", () => {
        const data = sb.path("ro-data");
        mkdirSync(data, { mode: 0o555 });
        const r = start({ MENTATOR_HOME: data, MODELS_DIR: join(root, "models") });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/data dir .* is not writable by uid 1000/);
    });
});

describe("start-docker.sh: privileges", () => {
    // Root is simulated: `id -u` says 0, setpriv and chown are recorded (setpriv then runs the command),
    // and `stat` answers ownership from STUB_OWNERS ({"path": "uid:gid"}) for the paths it knows.
    beforeEach(() => {
        sb.stub("setpriv", {
            body: `
const i = argv.indexOf("--");
const r = require("node:child_process").spawnSync(argv[i + 1], argv.slice(i + 2), { stdio: "inherit" });
process.exit(r.status ?? 1);`,
        });
        sb.stub("chown");
        const realStat = sb.path("bin", "stat");
        sb.stub("stat", {
            body: `
const owners = JSON.parse(process.env.STUB_OWNERS || "{}");
const path = argv[argv.length - 1];
if (owners[path] !== undefined) {
    const [u, g] = owners[path].split(":");
    console.log(argv[1] === "%g" ? g : argv[1] === "%u" ? u : u + ":" + g);
    process.exit(0);
}
const r = require("node:child_process").spawnSync(${JSON.stringify(realStat)}, argv, { stdio: "inherit" });
process.exit(r.status ?? 1);`,
        });
    });

    const asRoot = (env: Record<string, string> = {}) => start({ STUB_UID: "0", ...env });

    it("gives a fresh volume to the mentator user and drops to it", () => {
        const data = join(root, "data");
        const r = asRoot({ STUB_USER_ID: "10001", STUB_OWNERS: JSON.stringify({ [data]: "0:0" }) });
        expect(r.status).toBe(0);
        const chowned = sb.calls("chown").map((c) => c.argv);
        expect(chowned).toContainEqual(["10001:10001", "--", data]);
        expect(chowned.flat()).toContain(join(data, "models", "tiny.gguf"));
        expect(onlyExec(sb.calls("setpriv")).argv).toEqual([
            "--reuid=10001", "--regid=10001", "--clear-groups", "--",
            "node", join(root, "app", "distjs", "index.js"), "--conf-docker", join(data, "mentator-llm-service.conf.jsonc"),
        ]);
        expect(onlyExec(r.node).env.MENTATOR_GPU).toBe("cpu");
        expect(r.stderr).toContain("dropping privileges to uid 10001 gid 10001");
    });

    it("adopts the owner of a volume owned by a non-root user", () => {
        const data = sb.path("bind-mount");
        touch(join(data, "models", "user.gguf"), "GGUF");
        const r = asRoot({ MENTATOR_HOME: data, STUB_USER_ID: "10001", STUB_OWNERS: JSON.stringify({ [data]: "1000:1001" }) });
        expect(r.status).toBe(0);
        expect(sb.calls("chown")).toHaveLength(0);
        expect(onlyExec(sb.calls("setpriv")).argv.slice(0, 3)).toEqual(["--reuid=1000", "--regid=1001", "--clear-groups"]);
    });

    it("stays root on a root-owned volume that already holds files", () => {
        const data = sb.path("root-volume");
        touch(join(data, "mentator-llm-service.db"), "sqlite");
        const r = asRoot({ MENTATOR_HOME: data, STUB_USER_ID: "10001", STUB_OWNERS: JSON.stringify({ [data]: "0:0" }) });
        expect(r.status).toBe(0);
        expect(sb.calls("setpriv")).toHaveLength(0);
        expect(sb.calls("chown")).toHaveLength(0);
        expect(r.stderr).toMatch(/running as root: .* is owned by root and holds files; .*chown -R 10001:10001/);
        expect(r.node).toHaveLength(1);
    });

    it("joins the groups owning the AMD device nodes when it drops root", () => {
        const data = join(root, "data");
        touch(join(dev, "dev", "kfd"));
        touch(join(dev, "dev", "dri", "renderD128"));
        const r = asRoot({
            STUB_USER_ID: "10001",
            STUB_OWNERS: JSON.stringify({
                [data]: "0:0",
                [join(dev, "dev", "kfd")]: "0:993",
                [join(dev, "dev", "dri", "renderD128")]: "0:992",
            }),
        });
        expect(r.status).toBe(0);
        expect(onlyExec(sb.calls("setpriv")).argv.slice(0, 3)).toEqual(["--reuid=10001", "--regid=10001", "--groups=992,993"]);
        expect(onlyExec(r.node).env.MENTATOR_GPU).toBe("rocm");
    });

    it("keeps root with MENTATOR_RUN_AS_ROOT=1", () => {
        const r = asRoot({ MENTATOR_RUN_AS_ROOT: "1", STUB_USER_ID: "10001" });
        expect(r.status).toBe(0);
        expect(sb.calls("setpriv")).toHaveLength(0);
        expect(r.stderr).toContain("running as root (MENTATOR_RUN_AS_ROOT=1)");
    });

    it("keeps root when the unprivileged user does not exist", () => {
        const data = join(root, "data");
        const r = asRoot({ STUB_OWNERS: JSON.stringify({ [data]: "0:0" }) });
        expect(r.status).toBe(0);
        expect(sb.calls("setpriv")).toHaveLength(0);
        expect(r.stderr).toContain("running as root (user mentator not found)");
    });
});
