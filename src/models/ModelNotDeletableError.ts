/** The model has no file of ours to delete (served upstream), or deleting it now would break the service. */
export class ModelNotDeletableError extends Error {
    public readonly modelId: string;

    public constructor(modelId: string, reason: string) {
        super(`cannot delete model "${modelId}": ${reason}`);
        this.name = "ModelNotDeletableError";
        this.modelId = modelId;
    }
}
