import type { JobDocument, OutputSink, SinkHealth, SinkResult } from "./OutputSink.js";

/** Parses a job document back into JSON: the value itself, or an array with one entry per JSONL line. */
export function parseJobDocument(document: JobDocument): unknown {
    try {
        if (document.format === "json") return JSON.parse(document.body) as unknown;
        return document.body
            .split("\n")
            .filter((line) => line.trim() !== "")
            .map((line) => JSON.parse(line) as unknown);
    } catch (error) {
        throw new Error(`job ${document.jobId}: output is not valid ${document.format.toUpperCase()}: ${(error as Error).message}`, { cause: error });
    }
}

/** `inline`: the result JSON goes straight into the job's `output` (a batch becomes an array of responses). */
export class InlineSink implements OutputSink {
    public readonly mode = "inline" as const;

    public async write(document: JobDocument): Promise<SinkResult> {
        return { mode: "inline", output: parseJobDocument(document) };
    }

    public async health(): Promise<SinkHealth> {
        return "ok";
    }
}
