import { readFileSync } from "node:fs";

interface PackageJson {
    name: string;
    version: string;
    dependencies?: Record<string, string>;
}

let cached: PackageJson | undefined;

/** The package.json next to distjs/ (and src/), read once. */
export function packageInfo(): PackageJson {
    cached ??= JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as PackageJson;
    return cached;
}
