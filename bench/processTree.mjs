// Peak resident memory of a process and all its descendants (Linux /proc), sampled while a bench side runs.
import { readdirSync, readFileSync } from "node:fs";

/** The pid and every descendant pid (children of every thread, recursively). */
export function processTree(pid) {
    const pids = [pid];
    for (let index = 0; index < pids.length; index++) {
        let tasks = [];
        try {
            tasks = readdirSync(`/proc/${pids[index]}/task`);
        } catch {
            continue; // gone
        }
        for (const task of tasks) {
            try {
                const text = readFileSync(`/proc/${pids[index]}/task/${task}/children`, "utf8").trim();
                if (text !== "") pids.push(...text.split(/\s+/).map(Number));
            } catch {
                // thread or process gone
            }
        }
    }
    return pids;
}

/** A field of /proc/<pid>/status in bytes (VmHWM, VmRSS), or undefined when the process is gone. */
function statusBytes(pid, field) {
    try {
        const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
        return match ? Number(match[1]) * 1024 : undefined;
    } catch {
        return undefined;
    }
}

/**
 * Samples a process tree every `intervalMs`: the peak RSS of each process (its VmHWM, which the kernel
 * keeps), and the largest sum of current RSS seen at one sample. `peakBytes()` is the sum of the per-process
 * peaks: what the tree needed at most, counting each process at its own high-water mark.
 */
export class PeakRssSampler {
    constructor(rootPid, intervalMs = 100) {
        this.rootPid = rootPid;
        this.peaks = new Map();
        this.names = new Map();
        this.maxSumRss = 0;
        this.timer = setInterval(() => this.sample(), intervalMs);
        this.timer.unref();
        this.sample();
    }

    sample() {
        let sumRss = 0;
        for (const pid of processTree(this.rootPid)) {
            const hwm = statusBytes(pid, "VmHWM");
            const rss = statusBytes(pid, "VmRSS");
            if (hwm === undefined) continue;
            this.peaks.set(pid, Math.max(this.peaks.get(pid) ?? 0, hwm));
            try {
                // read each time: a child started through setpriv changes its name when it execs llama-server
                this.names.set(pid, readFileSync(`/proc/${pid}/comm`, "utf8").trim());
            } catch {
                // gone
            }
            sumRss += rss ?? 0;
        }
        this.maxSumRss = Math.max(this.maxSumRss, sumRss);
    }

    /** Takes a last sample and stops. */
    stop() {
        this.sample();
        clearInterval(this.timer);
    }

    peakBytes() {
        let sum = 0;
        for (const peak of this.peaks.values()) sum += peak;
        return sum;
    }

    /** Peak per process, for the JSON: [{pid, name, peakBytes}]. */
    perProcess() {
        return [...this.peaks].map(([pid, peakBytes]) => ({ pid, name: this.names.get(pid) ?? "?", peakBytes }));
    }
}
