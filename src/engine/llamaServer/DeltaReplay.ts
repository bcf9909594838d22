import { EngineRequestError } from "../engineErrors.js";
import type { GenerationCallbacks, GenerationDelta } from "../types.js";

/**
 * Passes deltas on and remembers the text already sent, so a request can be generated again (same seed)
 * without the client seeing anything twice: in replay mode the regenerated text is checked against what was
 * sent and only what goes beyond it is passed on. A replay that differs from what was sent fails cleanly.
 */
export class DeltaReplay {
    private readonly target: GenerationCallbacks;
    private readonly modelId: string;
    private sentText = "";
    private replayed = 0;
    private replaying = false;
    private toolCallSent = false;

    public constructor(modelId: string, target: GenerationCallbacks) {
        this.modelId = modelId;
        this.target = target;
    }

    /** True once a tool call delta went out (those are not replayed). */
    public get sentToolCall(): boolean {
        return this.toolCallSent;
    }

    /** The callbacks to hand to a generation. */
    public callbacks(): GenerationCallbacks {
        return { streamed: this.target.streamed, onDelta: (delta) => this.onDelta(delta) };
    }

    /**
     * The next generation repeats the request from the start. Deltas that only feed metrics (not a client's
     * stream) need no check: the regenerated output replaces the first attempt's.
     */
    public startReplay(): void {
        this.replaying = this.target.streamed === true;
        this.replayed = 0;
        if (!this.replaying) this.sentText = "";
    }

    private onDelta(delta: GenerationDelta): void {
        if (delta.type === "toolCall") {
            this.toolCallSent = true;
            this.target.onDelta?.(delta);
            return;
        }
        if (!this.replaying) {
            this.sentText += delta.text;
            this.target.onDelta?.(delta);
            return;
        }
        const overlap = Math.min(delta.text.length, this.sentText.length - this.replayed);
        if (delta.text.slice(0, overlap) !== this.sentText.slice(this.replayed, this.replayed + overlap)) {
            throw new EngineRequestError(this.modelId, "the regenerated output differs from the part already streamed; retry the request");
        }
        this.replayed += overlap;
        if (this.replayed === this.sentText.length) this.replaying = false; // caught up: pass everything on again
        const fresh = delta.text.slice(overlap);
        if (fresh !== "") {
            this.sentText += fresh;
            this.target.onDelta?.({ type: "text", text: fresh });
        }
    }
}
