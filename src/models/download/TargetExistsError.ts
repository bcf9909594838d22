/** The download target exists with different content; only `--force` overwrites it. */
export class TargetExistsError extends Error {
    public readonly path: string;

    public constructor(path: string, detail: string) {
        super(`${path} already exists and ${detail}; use --force to overwrite it`);
        this.name = "TargetExistsError";
        this.path = path;
    }
}
