import { ConfigError } from "../config/ConfigError.js";
import { InvalidModelUriError } from "../models/download/InvalidModelUriError.js";
import { LockFileError } from "../models/lock/LockFileError.js";
import { InvalidModelIdError } from "../models/modelErrors.js";
import { EXIT_FAILURE, EXIT_USAGE } from "./exitCodes.js";

/** Prints an error for a human on stderr and returns the exit code it deserves. */
export function reportError(error: unknown): number {
    if (error instanceof ConfigError) {
        process.stderr.write(`mentator: ${error.message}\n`);
        return EXIT_USAGE;
    }
    if (error instanceof InvalidModelIdError || error instanceof InvalidModelUriError || error instanceof LockFileError) {
        process.stderr.write(`mentator: ${error.message}\n`);
        return EXIT_USAGE;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`mentator: ${message}\n`);
    if (process.env.MENTATOR_DEBUG === "1" && error instanceof Error && error.stack !== undefined) {
        process.stderr.write(`${error.stack}\n`);
    }
    return EXIT_FAILURE;
}
