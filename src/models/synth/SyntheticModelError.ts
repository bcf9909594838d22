export type SyntheticModelErrorCode = "BAD_PRESET" | "BAD_QUANT" | "BAD_OPTION" | "FILE_EXISTS";

/** A wrong request for a synthetic model (bad usage, not a runtime failure). */
export class SyntheticModelError extends Error {
    public override readonly name = "SyntheticModelError";

    public constructor(public readonly code: SyntheticModelErrorCode, message: string) {
        super(message);
    }
}
