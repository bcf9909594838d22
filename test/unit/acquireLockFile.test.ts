import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { acquireLockFile, type LockHolder } from "../../src/util/acquireLockFile.js";

const held = (holder: LockHolder): Error => new Error(`held by ${holder.pid} on ${holder.host}`);

function lockPath(): string {
    return join(mkdtempSync(join(tmpdir(), "mentator-lock-")), "x.lock");
}

/** The pid of a process that has exited. */
function deadPid(): number {
    const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    return Number(child.stdout);
}

describe("acquireLockFile", () => {
    it("writes our pid and host, refuses a second taker while held, and frees the file on release", () => {
        const file = lockPath();
        const release = acquireLockFile(file, held);
        expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ pid: process.pid, host: hostname() });
        expect(() => acquireLockFile(file, held)).toThrow(`held by ${process.pid} on ${hostname()}`);
        release();
        expect(existsSync(file)).toBe(false);
        acquireLockFile(file, held)();
    });

    it("takes over a lock left by a process that is gone, or one that cannot be read", () => {
        const file = lockPath();
        writeFileSync(file, JSON.stringify({ pid: deadPid(), host: hostname() }));
        const release = acquireLockFile(file, held);
        expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({ pid: process.pid });
        release();
        writeFileSync(file, "{half-writ");
        acquireLockFile(file, held)();
    });

    it("treats a lock from another host as held (its pid cannot be checked from here)", () => {
        const file = lockPath();
        writeFileSync(file, JSON.stringify({ pid: 1, host: "some-other-host" }));
        expect(() => acquireLockFile(file, held)).toThrow("held by 1 on some-other-host");
    });
});
