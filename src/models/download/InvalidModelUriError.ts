/** A model source URI that cannot be used: unknown scheme, malformed, or naming no file. */
export class InvalidModelUriError extends Error {
    public readonly uri: string;

    public constructor(uri: string, reason: string) {
        super(`invalid model URI "${uri}": ${reason}`);
        this.name = "InvalidModelUriError";
        this.uri = uri;
    }
}
