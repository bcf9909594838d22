/** No model with this id exists in the registry. */
export class ModelNotFoundError extends Error {
    public readonly modelId: string;

    public constructor(modelId: string, message?: string) {
        super(message ?? `model "${modelId}" not found`);
        this.name = "ModelNotFoundError";
        this.modelId = modelId;
    }
}

/** An id or file name that would resolve outside the models directory, or is malformed. */
export class InvalidModelIdError extends Error {
    public readonly modelId: string;

    public constructor(modelId: string, reason: string) {
        super(`invalid model id "${modelId}": ${reason}`);
        this.name = "InvalidModelIdError";
        this.modelId = modelId;
    }
}

/** The model exists but its file cannot be used (corrupt, unreadable). */
export class ModelUnavailableError extends Error {
    public readonly modelId: string;

    public constructor(modelId: string, reason: string) {
        super(`model "${modelId}" is unavailable: ${reason}`);
        this.name = "ModelUnavailableError";
        this.modelId = modelId;
    }
}
