import { DatabaseError } from "../db/DatabaseError.js";
import type { ServiceConfig } from "../config/loadConfig.js";
import type { MentatorService } from "../service/MentatorService.js";
import type { Logger } from "../util/logger.js";

/**
 * The service for a one-shot command (`run`, `worker`): these keep nothing of their own in the database, so a
 * data directory whose database cannot be opened (read-only volume, locked) falls back to an in-memory one.
 */
export async function createCommandService(config: ServiceConfig, log: Logger): Promise<MentatorService> {
    // Imported here so that the CLI's other commands do not load the service (engines, jobs, metrics) at start.
    const { MentatorService } = await import("../service/MentatorService.js");
    try {
        return await MentatorService.create({ config, log });
    } catch (error) {
        if (!(error instanceof DatabaseError)) throw error;
        log.warn({ err: error.message }, "working with an in-memory database");
        return MentatorService.create({ config: { ...config, dbPath: ":memory:" }, log });
    }
}
