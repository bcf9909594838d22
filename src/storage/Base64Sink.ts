import type { JobDocument, OutputSink, SinkHealth, SinkResult } from "./OutputSink.js";

/** `base64`: the document's UTF-8 bytes (JSON or JSONL), base64-encoded, as the job's `output` string. */
export class Base64Sink implements OutputSink {
    public readonly mode = "base64" as const;

    public async write(document: JobDocument): Promise<SinkResult> {
        return { mode: "base64", output: Buffer.from(document.body, "utf8").toString("base64") };
    }

    public async health(): Promise<SinkHealth> {
        return "ok";
    }
}
