import { readFileSync, rmSync, writeFileSync } from "node:fs";

/** The sidecar next to `<target>.partial`: which object the bytes came from, so a resume never mixes two files. */
export interface PartialInfo {
    uri: string;
    location: string;
    etag?: string;
    size?: number;
    expectedSha256?: string;
}

export function partialPathOf(target: string): string {
    return `${target}.partial`;
}

function sidecarPathOf(target: string): string {
    return `${target}.partial.json`;
}

export function readPartialInfo(target: string): PartialInfo | undefined {
    try {
        const value = JSON.parse(readFileSync(sidecarPathOf(target), "utf8")) as Partial<PartialInfo>;
        return typeof value.uri === "string" && typeof value.location === "string" ? (value as PartialInfo) : undefined;
    } catch {
        return undefined;
    }
}

export function writePartialInfo(target: string, info: PartialInfo): void {
    writeFileSync(sidecarPathOf(target), `${JSON.stringify(info)}\n`);
}

/** Removes the partial file and its sidecar. */
export function removePartial(target: string): void {
    rmSync(partialPathOf(target), { force: true });
    rmSync(sidecarPathOf(target), { force: true });
}

export function removePartialInfo(target: string): void {
    rmSync(sidecarPathOf(target), { force: true });
}
