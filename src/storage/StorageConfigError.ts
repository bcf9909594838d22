import { ConfigError } from "../config/ConfigError.js";

/**
 * An output sink or object reader cannot work with the current settings (no bucket, half a key pair,
 * unreadable credentials file). The message names the environment variable to set; the CLI exits 2.
 */
export class StorageConfigError extends ConfigError {
    /** The environment variable that fixes the problem, e.g. `S3_BUCKET`. */
    public readonly variable: string;

    public constructor(variable: string, message: string) {
        super([message]);
        this.name = "StorageConfigError";
        this.variable = variable;
    }
}
