// One streamed /v1/completions request, timed on the client: the same code measures every side of a bench.

/**
 * POSTs `body` (stream forced on, usage asked for) to `<url>/v1/completions` and reads the SSE stream.
 * Returns the time to the first non-empty text chunk (ttftMs), the time of every text chunk, the usage
 * the server reported, llama-server's own `timings` when present, and the total time. Throws on a non-200
 * answer, an error event, a stream without usage, or after `timeoutMs` (a stuck side must not hang the bench).
 */
export async function streamCompletion(url, body, timeoutMs = 600_000) {
    const started = performance.now();
    const response = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
        signal: AbortSignal.timeout(timeoutMs)
    });
    if (response.status !== 200) throw new Error(`${url}/v1/completions: HTTP ${response.status}: ${await response.text()}`);
    const tokenTimes = [];
    let usage;
    let timings;
    let buffer = "";
    const decoder = new TextDecoder();
    const handle = (event) => {
        const data = event
            .split("\n")
            .filter((line) => line.startsWith("data:"))
            .map((line) => line.slice(5).trimStart())
            .join("\n");
        if (data === "" || data === "[DONE]") return;
        const chunk = JSON.parse(data);
        if (chunk.error !== undefined) throw new Error(`${url}/v1/completions: error event: ${JSON.stringify(chunk.error)}`);
        if (chunk.usage) usage = chunk.usage;
        if (chunk.timings) timings = chunk.timings;
        if (chunk.choices?.[0]?.text) tokenTimes.push(performance.now());
    };
    for await (const bytes of response.body) {
        buffer += decoder.decode(bytes, { stream: true });
        const events = buffer.split(/\r?\n\r?\n/);
        buffer = events.pop();
        for (const event of events) handle(event);
    }
    if (buffer.trim() !== "") handle(buffer);
    const ended = performance.now();
    if (usage === undefined) throw new Error(`${url}/v1/completions: the stream ended without usage`);
    if (tokenTimes.length === 0) throw new Error(`${url}/v1/completions: the stream had no text`);
    return {
        promptTokens: usage.prompt_tokens,
        completionTokens: usage.completion_tokens,
        ttftMs: tokenTimes[0] - started,
        tokenTimes: tokenTimes.map((time) => time - started),
        wallMs: ended - started,
        startedAt: started,
        endedAt: ended,
        timings
    };
}

/** Decode rate of one generation: tokens after the first over the time between the first and last text chunk. */
export function decodeRate(result) {
    const first = result.tokenTimes[0];
    const last = result.tokenTimes[result.tokenTimes.length - 1];
    return result.completionTokens > 1 && last > first ? (result.completionTokens - 1) / ((last - first) / 1000) : 0;
}
