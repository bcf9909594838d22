import { finished, type Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";

/** One server-sent event: its `event:` name (default "message") and its joined `data:` lines. */
export interface SseEvent {
    event: string;
    data: string;
}

/**
 * Splits a text/event-stream body into events as its bytes arrive (the WHATWG parsing rules, without
 * `id`/`retry`). Push-based rather than an async iterator: on a token stream the promise per chunk and per
 * event of async iteration was a measurable share of our CPU per token (bench/NOTES.md). UTF-8 is decoded
 * across chunk boundaries; comments (`:` lines, keep-alive pings) are skipped.
 */
export class SseDecoder {
    private readonly onEvent: (event: SseEvent) => void;
    private readonly decoder = new StringDecoder("utf8");
    private buffer = "";
    private event = "";
    private data: string[] = [];

    public constructor(onEvent: (event: SseEvent) => void) {
        this.onEvent = onEvent;
    }

    /** Takes the next bytes; calls `onEvent` for each event they complete (exceptions propagate to the caller). */
    public push(chunk: Uint8Array): void {
        this.buffer += this.decoder.write(chunk as Buffer);
        let start = 0;
        // Peers send "\n" line ends as a rule: the "\r" search runs again only once start has passed its last hit.
        let cr = this.buffer.indexOf("\r");
        for (;;) {
            const lf = this.buffer.indexOf("\n", start);
            if (cr >= 0 && cr < start) cr = this.buffer.indexOf("\r", start);
            const end = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
            if (end < 0) break;
            // A trailing "\r" may be the first half of "\r\n": wait for the next chunk.
            if (end === cr && end === this.buffer.length - 1) break;
            const line = this.buffer.slice(start, end);
            start = end + (end === cr && this.buffer.charCodeAt(end + 1) === 10 ? 2 : 1);
            this.takeLine(line);
        }
        this.buffer = this.buffer.slice(start);
    }

    /** The body ended: a last line and a last event without their terminators still count. */
    public end(): void {
        this.buffer += this.decoder.end();
        // push() holds back a final "\r" (it might have been half of "\r\n"); at the end it is a line break.
        if (this.buffer.endsWith("\r")) this.push(Buffer.from("\n"));
        if (this.buffer !== "") this.takeLine(this.buffer);
        this.buffer = "";
        this.takeLine("");
    }

    private takeLine(line: string): void {
        if (line === "") {
            if (this.data.length > 0) {
                const event = { event: this.event === "" ? "message" : this.event, data: this.data.join("\n") };
                this.event = "";
                this.data = [];
                this.onEvent(event);
            }
            this.event = "";
            return;
        }
        if (line.startsWith(":")) return;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") this.data.push(value);
        else if (field === "event") this.event = value;
    }
}

/**
 * Feeds a streamed body's events to `onEvent` until the body ends or `onEvent` returns "stop". Stopping destroys
 * the body, and so its connection: llama-server may close a connection after a stream, and a request sent on
 * such a socket fails with "socket hang up" (seen in tests when stream sockets went back to the pool). An
 * exception thrown by `onEvent` destroys the body and rejects with that exception; a body that breaks or closes
 * early rejects with the stream error.
 */
export function readSseStream(body: Readable, onEvent: (event: SseEvent) => "stop" | void): Promise<void> {
    return new Promise((resolve, reject) => {
        let settled = false;
        const decoder = new SseDecoder((event) => {
            if (settled) return;
            if (onEvent(event) === "stop") {
                settled = true;
                body.destroy();
                resolve();
            }
        });
        const fail = (error: unknown): void => {
            if (settled) return;
            settled = true;
            body.destroy();
            reject(error);
        };
        body.on("data", (chunk: Buffer) => {
            if (settled) return;
            try {
                decoder.push(chunk);
            } catch (error) {
                fail(error);
            }
        });
        finished(body, (error) => {
            if (settled) return;
            if (error) return fail(error);
            try {
                decoder.end();
            } catch (caught) {
                return fail(caught);
            }
            settled = true;
            resolve();
        });
    });
}
