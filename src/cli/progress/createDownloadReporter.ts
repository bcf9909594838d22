import type { DownloadEvent } from "../../models/download/DownloadEvent.js";
import { formatBytes } from "../format.js";

export interface DownloadReporter {
    onEvent(event: DownloadEvent): void;
    /** Ends the progress line (before printing anything else). */
    finish(): void;
}

export interface DownloadReporterOptions {
    /** NDJSON lines instead of a bar. */
    json: boolean;
    /** Where to write; a bar needs a TTY. */
    stream: NodeJS.WriteStream;
    /** Label for the bar (file name). */
    label?: string;
}

const BAR_WIDTH = 24;

function formatDuration(seconds: number): string {
    if (!Number.isFinite(seconds) || seconds < 0) return "?";
    if (seconds < 60) return `${Math.ceil(seconds)}s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.ceil(seconds % 60)).padStart(2, "0")}s`;
    return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
}

function percent(completed: number, total: number | undefined): number | undefined {
    return total !== undefined && total > 0 ? Math.min(100, (completed / total) * 100) : undefined;
}

/** NDJSON: one JSON object per event (`type` field), progress with `percent` added. */
function jsonReporter(stream: NodeJS.WriteStream): DownloadReporter {
    return {
        onEvent(event) {
            const line = event.type === "progress" ? { ...event, percent: roundedPercent(event.completed, event.total), bytesPerSecond: Math.round(event.bytesPerSecond) } : event;
            stream.write(`${JSON.stringify(line)}\n`);
        },
        finish() {
            // nothing buffered
        }
    };
}

function roundedPercent(completed: number, total: number | undefined): number | undefined {
    const value = percent(completed, total);
    return value === undefined ? undefined : Math.floor(value * 10) / 10;
}

/** A one-line bar redrawn in place: percent, bytes, speed, ETA. Retries and restarts get their own lines. */
function barReporter(stream: NodeJS.WriteStream, label: string | undefined): DownloadReporter {
    let name = label ?? "";
    let drawn = false;
    const clear = (): void => {
        if (drawn) stream.write("\r\x1b[2K");
        drawn = false;
    };
    const draw = (completed: number, total: number | undefined, bytesPerSecond: number): void => {
        const share = percent(completed, total);
        const filled = share === undefined ? 0 : Math.round((share / 100) * BAR_WIDTH);
        const bar = share === undefined ? "" : ` [${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}]`;
        const amount = total !== undefined ? `${formatBytes(completed)} / ${formatBytes(total)}` : formatBytes(completed);
        const eta = total !== undefined && bytesPerSecond > 0 ? `  ETA ${formatDuration((total - completed) / bytesPerSecond)}` : "";
        const shareText = share === undefined ? "" : ` ${share.toFixed(1).padStart(5)}%`;
        stream.write(`\r\x1b[2K${name}${shareText}${bar} ${amount}  ${formatBytes(bytesPerSecond)}/s${eta}`);
        drawn = true;
    };
    return {
        onEvent(event) {
            switch (event.type) {
                case "start":
                    name = label ?? event.path.split("/").pop() ?? event.path;
                    if (event.resumedFrom > 0) stream.write(`resuming ${name} at ${formatBytes(event.resumedFrom)}\n`);
                    draw(event.resumedFrom, event.total, 0);
                    break;
                case "progress":
                    draw(event.completed, event.total, event.bytesPerSecond);
                    break;
                case "retry":
                    clear();
                    stream.write(`${event.error}; retrying in ${(event.delayMs / 1000).toFixed(1)} s (attempt ${event.attempt + 1} of ${event.maxAttempts})\n`);
                    break;
                case "restart":
                    clear();
                    stream.write(`${event.reason}\n`);
                    break;
                case "verifying":
                    clear();
                    break;
                case "done":
                    clear();
                    break;
            }
        },
        finish: clear
    };
}

/** NDJSON when asked or when the stream is not a terminal, else a progress bar. */
export function createDownloadReporter(options: DownloadReporterOptions): DownloadReporter {
    return options.json || options.stream.isTTY !== true ? jsonReporter(options.stream) : barReporter(options.stream, options.label);
}
