/** A batch input (or other object) URI that is not `s3://bucket/key`, `gs://bucket/key` or `http(s)://…`. */
export class InvalidObjectUriError extends Error {
    public readonly uri: string;

    public constructor(uri: string, reason: string) {
        super(`invalid object URI ${JSON.stringify(uri)}: ${reason} (expected s3://bucket/key, gs://bucket/key or https://…)`);
        this.name = "InvalidObjectUriError";
        this.uri = uri;
    }
}
