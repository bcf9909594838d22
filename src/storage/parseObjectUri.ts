import { InvalidObjectUriError } from "./InvalidObjectUriError.js";

export type ObjectUri = { scheme: "s3" | "gs"; bucket: string; key: string; uri: string } | { scheme: "http"; url: URL; uri: string };

/** Splits `s3://bucket/key`, `gs://bucket/key` and `http(s)://…` URIs; anything else is an InvalidObjectUriError. */
export function parseObjectUri(uri: string): ObjectUri {
    const match = /^(s3|gs):\/\/([^/]+)\/(.+)$/.exec(uri);
    if (match !== null) {
        const key = match[3]!;
        if (key.endsWith("/")) throw new InvalidObjectUriError(uri, "names a folder, not an object");
        return { scheme: match[1] as "s3" | "gs", bucket: match[2]!, key, uri };
    }
    if (/^(s3|gs):\/\//.test(uri)) throw new InvalidObjectUriError(uri, "needs a bucket and an object name");
    let url: URL;
    try {
        url = new URL(uri);
    } catch {
        throw new InvalidObjectUriError(uri, "not a URI");
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new InvalidObjectUriError(uri, `unsupported scheme ${url.protocol}`);
    return { scheme: "http", url, uri };
}
