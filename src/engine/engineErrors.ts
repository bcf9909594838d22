/** A model could not be loaded (file vanished, not enough memory, unsupported architecture). */
export class ModelLoadError extends Error {
    public readonly modelId: string;

    public constructor(modelId: string, reason: string, options?: { cause?: unknown }) {
        super(`failed to load model "${modelId}": ${reason}`, options);
        this.name = "ModelLoadError";
        this.modelId = modelId;
    }
}

/** The service is stopping and takes no new work. */
export class ShuttingDownError extends Error {
    public constructor() {
        super("the service is shutting down");
        this.name = "ShuttingDownError";
    }
}
