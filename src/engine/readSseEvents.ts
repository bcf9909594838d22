/** One server-sent event: its `event:` name (default "message") and its joined `data:` lines. */
export interface SseEvent {
    event: string;
    data: string;
}

/**
 * Splits a text/event-stream body into events (the WHATWG parsing rules, without `id`/`retry`).
 * Bytes are decoded as UTF-8 across chunk boundaries; comments (`:` lines, keep-alive pings) are skipped.
 */
export async function* readSseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
    const decoder = new TextDecoder("utf-8");
    let buffer = "";
    let event = "";
    let data: string[] = [];
    const take = function* (line: string): Generator<SseEvent> {
        if (line === "") {
            if (data.length > 0) yield { event: event === "" ? "message" : event, data: data.join("\n") };
            event = "";
            data = [];
            return;
        }
        if (line.startsWith(":")) return;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") data.push(value);
        else if (field === "event") event = value;
    };
    for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
            // A trailing "\r" may be the first half of "\r\n": wait for the next chunk.
            if (newline === buffer.length - 1 && buffer.endsWith("\r")) break;
            const line = buffer.slice(0, newline);
            buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
            yield* take(line);
        }
    }
    buffer += decoder.decode();
    if (buffer !== "") yield* take(buffer);
    yield* take("");
}
