/** The database file cannot be used (not a database, locked by another process, unwritable). */
export class DatabaseError extends Error {
    public readonly file: string;

    public constructor(file: string, message: string, options?: { cause?: unknown }) {
        super(`${file}: ${message}`, options);
        this.name = "DatabaseError";
        this.file = file;
    }
}
