// docker/pod-dev-entrypoint.sh with a local bare git repository as the remote and a stub npm.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { REPO_ROOT, Sandbox } from "../helpers/deploySandbox.js";

const SCRIPT = join(REPO_ROOT, "docker", "pod-dev-entrypoint.sh");

let sb: Sandbox;
let work: string;
let remote: string;
let home: string;

function git(cwd: string, ...args: string[]): string {
    const res = spawnSync("git", ["-c", "user.email=dev@example.com", "-c", "user.name=dev", "-c", "init.defaultBranch=main", ...args], {
        cwd,
        encoding: "utf8",
    });
    if (res.status !== 0) throw new Error(`git ${args.join(" ")}: ${res.stderr}`);
    return res.stdout.trim();
}

/** Commits files in the working clone and pushes them to the bare remote. */
function push(files: Record<string, string>, message: string): string {
    for (const [name, content] of Object.entries(files)) {
        mkdirSync(join(work, name, ".."), { recursive: true });
        writeFileSync(join(work, name), content);
    }
    git(work, "add", "-A");
    git(work, "commit", "-q", "-m", message);
    git(work, "push", "-q", "origin", "main");
    return git(work, "rev-parse", "HEAD");
}

function startPod(args: string[] = ["app-cmd", "--serve"], env: Record<string, string> = {}) {
    return sb.run(SCRIPT, args, {
        MENTATOR_DEV_REPO: remote,
        MENTATOR_DEV_HOME: home,
        ...env,
    });
}

const src = () => join(home, "src");

beforeEach(() => {
    sb = new Sandbox().linkTools();
    // npm ci "installs" by creating node_modules in its working directory
    sb.stub("npm", { body: `require("node:fs").mkdirSync("node_modules", { recursive: true });` });
    sb.stub("app-cmd");
    work = sb.path("work");
    remote = sb.path("remote.git");
    home = sb.path("volume", "mentator-dev");
    mkdirSync(work);
    git(work, "init", "-q");
    git(sb.dir, "init", "-q", "--bare", remote);
    git(work, "remote", "add", "origin", remote);
    push({ "package.json": "{\"name\":\"app\"}\n", "package-lock.json": "{\"lockfileVersion\":3,\"rev\":1}\n" }, "init");
});

afterEach(() => sb.dispose());

describe("pod-dev-entrypoint.sh", () => {
    it("first start: clones the branch, runs npm ci with the cache on the volume, runs the command in the checkout", () => {
        const r = startPod();
        expect(r.stderr).not.toContain("error");
        expect(r.status).toBe(0);
        expect(git(src(), "rev-parse", "HEAD")).toBe(git(work, "rev-parse", "HEAD"));
        const npm = sb.calls("npm");
        expect(npm).toHaveLength(1);
        expect(npm[0]!.argv).toEqual(["ci", "--no-audit", "--no-fund"]);
        expect(npm[0]!.cwd).toBe(src());
        expect(npm[0]!.env.npm_config_cache).toBe(join(home, "cache", "npm"));
        const app = sb.calls("app-cmd");
        expect(app).toHaveLength(1);
        expect(app[0]!.argv).toEqual(["--serve"]);
        expect(app[0]!.cwd).toBe(src());
        expect(readFileSync(join(home, "state", "package-lock.sha256"), "utf8").trim()).toMatch(/^[0-9a-f]{64}$/);
    });

    it("restart with an unchanged lock skips npm ci", () => {
        expect(startPod().status).toBe(0);
        const r = startPod();
        expect(r.status).toBe(0);
        expect(sb.calls("npm")).toHaveLength(1);
        expect(sb.calls("app-cmd")).toHaveLength(2);
        expect(r.stderr).toContain("npm ci skipped");
    });

    it("restart pulls new commits; a changed lock reinstalls", () => {
        expect(startPod().status).toBe(0);
        const head = push({ "package-lock.json": "{\"lockfileVersion\":3,\"rev\":2}\n" }, "bump deps");
        const r = startPod();
        expect(r.status).toBe(0);
        expect(git(src(), "rev-parse", "HEAD")).toBe(head);
        expect(sb.calls("npm")).toHaveLength(2);
        expect(r.stderr).toContain("package-lock.json changed");
    });

    it("restart pulls a change that leaves the lock alone without reinstalling", () => {
        expect(startPod().status).toBe(0);
        const head = push({ "src/feature.ts": "export const x = 1;\n" }, "feature");
        const r = startPod();
        expect(r.status).toBe(0);
        expect(git(src(), "rev-parse", "HEAD")).toBe(head);
        expect(existsSync(join(src(), "src", "feature.ts"))).toBe(true);
        expect(sb.calls("npm")).toHaveLength(1);
    });

    it("reinstalls when node_modules is gone even if the lock is unchanged", () => {
        expect(startPod().status).toBe(0);
        rmSync(join(src(), "node_modules"), { recursive: true });
        expect(startPod().status).toBe(0);
        expect(sb.calls("npm")).toHaveLength(2);
    });

    it("keeps local commits on the volume instead of discarding them", () => {
        expect(startPod().status).toBe(0);
        writeFileSync(join(src(), "local.txt"), "mine\n");
        git(src(), "add", "local.txt");
        git(src(), "commit", "-q", "-m", "local work");
        const local = git(src(), "rev-parse", "HEAD");
        push({ "upstream.txt": "theirs\n" }, "upstream work");
        const r = startPod();
        expect(r.status).toBe(0);
        expect(r.stderr).toContain("cannot fast-forward");
        expect(git(src(), "rev-parse", "HEAD")).toBe(local);
        expect(sb.calls("app-cmd")).toHaveLength(2);
    });

    it("MENTATOR_DEV_PULL=0 starts the checkout as it is", () => {
        expect(startPod().status).toBe(0);
        const first = git(src(), "rev-parse", "HEAD");
        push({ "later.txt": "x\n" }, "later");
        expect(startPod(["app-cmd"], { MENTATOR_DEV_PULL: "0" }).status).toBe(0);
        expect(git(src(), "rev-parse", "HEAD")).toBe(first);
    });

    it("fails clearly without a checkout and without MENTATOR_DEV_REPO", () => {
        const r = sb.run(SCRIPT, ["app-cmd"], { MENTATOR_DEV_HOME: home });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("MENTATOR_DEV_REPO is not set");
        expect(sb.calls("app-cmd")).toHaveLength(0);
    });

    it("fails clearly when the clone fails, and a later start can clone", () => {
        const r = startPod(["app-cmd"], { MENTATOR_DEV_REPO: sb.path("missing.git") });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("git clone");
        expect(existsSync(src())).toBe(false);
        expect(startPod().status).toBe(0);
    });

    it("without a command, starts the checkout's own docker/start-docker.sh with the app dir and data on the volume", () => {
        push({ "docker/start-docker.sh": "#!/bin/sh\nexec app-cmd from-start-docker\n" }, "entrypoint");
        spawnSync("chmod", ["+x", join(work, "docker", "start-docker.sh")]);
        git(work, "add", "-A");
        git(work, "commit", "-q", "-m", "chmod");
        git(work, "push", "-q", "origin", "main");
        const r = startPod([]);
        expect(r.status).toBe(0);
        const app = sb.calls("app-cmd");
        expect(app).toHaveLength(1);
        expect(app[0]!.argv).toEqual(["from-start-docker"]);
        expect(app[0]!.env.MENTATOR_APP_DIR).toBe(src());
        expect(app[0]!.env.MENTATOR_HOME).toBe(join(home, "data"));
    });
});
