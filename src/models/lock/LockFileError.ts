/** A lock file that cannot be read or does not follow the format; the message names the file. */
export class LockFileError extends Error {
    public readonly file: string;

    public constructor(file: string, message: string, options?: { cause?: unknown }) {
        super(`${file}: ${message}`, options);
        this.name = "LockFileError";
        this.file = file;
    }
}
