/** The first string `code` on an error or its `cause` chain (Node's ECONNRESET etc. are often wrapped). */
export function findErrorCode(error: unknown): string | undefined {
    let current: unknown = error;
    for (let depth = 0; depth < 4 && current !== null && typeof current === "object"; depth++) {
        const code = (current as { code?: unknown }).code;
        if (typeof code === "string") return code;
        current = (current as { cause?: unknown }).cause;
    }
    return undefined;
}
