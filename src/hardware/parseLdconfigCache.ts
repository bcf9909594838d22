/**
 * Parses `ldconfig -p` output into soname -> path, keeping only entries for the given Node.js `arch`
 * (a 32-bit copy of a library is of no use to a 64-bit process). The first entry per name wins, as in ld.so.
 */
export function parseLdconfigCache(text: string, arch: string): Map<string, string> {
    const result = new Map<string, string>();
    const archFlag = arch === "x64" ? "x86-64" : arch === "arm64" ? "AArch64" : null;
    for (const line of text.split("\n")) {
        const match = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(.+?)\s*$/.exec(line);
        if (match == null)
            continue;
        const [, name, flags, path] = match;
        if (name == null || flags == null || path == null)
            continue;
        if (archFlag != null && !flags.split(",").some((flag) => flag.trim() === archFlag))
            continue;
        if (!result.has(name))
            result.set(name, path);
    }
    return result;
}
