import type { FastifyReply } from "fastify";

/**
 * A server-sent-events response written straight to the socket. Headers go out with the first event, so
 * errors found before any output can still be answered with a normal status code.
 */
export class SseStream {
    private readonly reply: FastifyReply;
    private opened = false;

    public constructor(reply: FastifyReply) {
        this.reply = reply;
    }

    public get isOpen(): boolean {
        return this.opened;
    }

    public send(data: unknown): void {
        this.open();
        if (!this.reply.raw.writableEnded) this.reply.raw.write(`data: ${JSON.stringify(data)}\n\n`);
    }

    /** Ends the stream with OpenAI's terminator. */
    public done(): void {
        this.open();
        if (!this.reply.raw.writableEnded) this.reply.raw.end("data: [DONE]\n\n");
    }

    private open(): void {
        if (this.opened) return;
        this.opened = true;
        this.reply.hijack();
        this.reply.raw.writeHead(200, {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            connection: "keep-alive",
            "x-accel-buffering": "no",
            "x-request-id": String(this.reply.request.id)
        });
    }
}
