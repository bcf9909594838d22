/** `mentator engine build` could not build llama-server: a tool is missing or a step failed (the message says which). */
export class EngineBuildError extends Error {
    public constructor(message: string) {
        super(message);
        this.name = "EngineBuildError";
    }
}
