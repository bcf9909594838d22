import { pino, type Logger } from "pino";

export type { Logger } from "pino";

/** JSON logs to stderr (stdout stays free for command output). */
export function createLogger(level: string, bindings: Record<string, string> = {}): Logger {
    return pino({ level, base: { ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true }));
}
