/** A file's sha256 differs from the one expected (lock file, --sha256, or the source's advertised digest). */
export class ChecksumMismatchError extends Error {
    public readonly file: string;
    public readonly expected: string;
    public readonly actual: string;

    public constructor(file: string, expected: string, actual: string, context = "") {
        super(`sha256 mismatch for ${file}${context !== "" ? ` ${context}` : ""}: expected ${expected}, actual ${actual}`);
        this.name = "ChecksumMismatchError";
        this.file = file;
        this.expected = expected;
        this.actual = actual;
    }
}
