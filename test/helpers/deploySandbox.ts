// Sandboxes for the deployment scripts (docker/*.sh, .auto/build-docker.js): a temporary directory, a bin/
// directory that is the whole PATH (real tools linked in by name, so a host's own nvidia-smi, rocm-smi or
// docker never leaks in), and stub commands written in JavaScript that record each call as one JSON line.
import { spawnSync } from "node:child_process";
import { accessSync, chmodSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

export const REPO_ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/** One recorded stub call. */
export interface StubCall {
    name: string;
    argv: string[];
    cwd: string;
    env: Record<string, string>;
}

export interface RunResult {
    status: number | null;
    stdout: string;
    stderr: string;
}

export interface StubOptions {
    /** JavaScript run after the call is recorded; `argv` (string[]) is in scope. Default: exit 0. */
    body?: string;
}

/** The tools the scripts under test use; each is linked into the sandbox's bin/ from the host's PATH. */
export const SANDBOX_TOOLS = [
    "bash", "env", "mkdir", "cp", "mv", "rm", "ln", "stat", "id", "cat", "sed", "grep", "sort", "paste", "wc",
    "head", "cut", "tr", "chown", "ls", "sha256sum", "git", "dirname", "basename", "touch", "sleep",
];

export function findOnHostPath(tool: string): string | undefined {
    for (const dir of (process.env.PATH ?? "").split(delimiter)) {
        if (!dir) continue;
        const candidate = join(dir, tool);
        try {
            accessSync(candidate, constants.X_OK);
            return candidate;
        } catch {
            // not here
        }
    }
    return undefined;
}

export class Sandbox {
    readonly dir: string;
    readonly bin: string;
    readonly log: string;

    constructor(prefix = "mentator-deploy-") {
        this.dir = mkdtempSync(join(tmpdir(), prefix));
        this.bin = join(this.dir, "bin");
        this.log = join(this.dir, "stub-calls.jsonl");
        mkdirSync(this.bin);
    }

    /** Links the given host tools into bin/ (missing tools fail loudly: the test would be meaningless). */
    linkTools(tools: readonly string[] = SANDBOX_TOOLS): this {
        for (const tool of tools) {
            const target = findOnHostPath(tool);
            if (!target) throw new Error(`the tool ${tool} is not installed on this machine`);
            const link = join(this.bin, tool);
            if (!existsSync(link)) symlinkSync(target, link);
        }
        return this;
    }

    /** Writes bin/<name>: a Node script that appends {name, argv, cwd, env} to the call log, then runs `body`. */
    stub(name: string, options: StubOptions = {}): this {
        const path = join(this.bin, name);
        rmSync(path, { force: true });
        const script = `#!${process.execPath}
const fs = require("node:fs");
const argv = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(this.log)}, JSON.stringify({ name: ${JSON.stringify(name)}, argv, cwd: process.cwd(), env: process.env }) + "\\n");
${options.body ?? "process.exit(0);"}
`;
        writeFileSync(path, script);
        chmodSync(path, 0o755);
        return this;
    }

    /** Recorded calls, optionally of one stub only. */
    calls(name?: string): StubCall[] {
        if (!existsSync(this.log)) return [];
        return readFileSync(this.log, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((line) => JSON.parse(line) as StubCall)
            .filter((c) => name === undefined || c.name === name);
    }

    path(...parts: string[]): string {
        return join(this.dir, ...parts);
    }

    /** Runs a command with PATH = bin/ only and exactly the given environment (plus PATH and HOME). */
    run(command: string, args: readonly string[], env: Record<string, string> = {}, cwd = this.dir): RunResult {
        const res = spawnSync(command, args, {
            cwd,
            env: { PATH: this.bin, HOME: this.dir, ...env },
            encoding: "utf8",
            timeout: 60_000,
        });
        if (res.error) throw res.error;
        return { status: res.status, stdout: res.stdout, stderr: res.stderr };
    }

    dispose(): void {
        rmSync(this.dir, { recursive: true, force: true });
    }
}
