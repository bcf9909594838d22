import { findNodeAtLocation, parse, parseTree, printParseErrorCode, type ParseError } from "jsonc-parser";
import { ConfigError } from "./ConfigError.js";

/** A JSONC document parsed into a plain object, with a way to find where a key path is written. */
export interface ParsedConfigText {
    value: Record<string, unknown>;
    /** "file:line:column" of the value at `path` (or of the deepest existing parent). */
    locate(path: ReadonlyArray<string | number>): string;
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
    let line = 1;
    let lineStart = 0;
    for (let index = 0; index < offset && index < text.length; index++) {
        if (text[index] === "\n") {
            line++;
            lineStart = index + 1;
        }
    }
    return { line, column: offset - lineStart + 1 };
}

export function parseConfigText(text: string, file: string): ParsedConfigText {
    const errors: ParseError[] = [];
    const value: unknown = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
    if (errors.length > 0) {
        throw new ConfigError(
            errors.map((error) => {
                const at = lineAndColumn(text, error.offset);
                return `${file}:${at.line}:${at.column}: syntax error: ${printParseErrorCode(error.error)}`;
            })
        );
    }
    if (value === undefined && text.trim() === "") {
        return { value: {}, locate: () => file };
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
        throw new ConfigError([`${file}:1:1: the configuration must be a JSON object`]);
    }
    const tree = parseTree(text, [], { allowTrailingComma: true });
    return {
        value: value as Record<string, unknown>,
        locate(path) {
            for (let length = path.length; length >= 0 && tree !== undefined; length--) {
                const node = findNodeAtLocation(tree, path.slice(0, length) as Array<string | number>);
                if (node === undefined) continue;
                // Point at the key of a property rather than its value when there is one.
                const target = node.parent?.type === "property" ? node.parent : node;
                const at = lineAndColumn(text, target.offset);
                return `${file}:${at.line}:${at.column}`;
            }
            return file;
        }
    };
}
