/** A job's input is malformed or asks for something unsupported; `param` is the path of the field at fault. */
export class JobInputError extends Error {
    public readonly param: string | undefined;

    public constructor(message: string, param?: string) {
        super(message);
        this.name = "JobInputError";
        this.param = param;
    }
}
