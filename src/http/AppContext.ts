import type { HealthReport } from "../service/buildHealthReport.js";
import type { MentatorService } from "../service/MentatorService.js";

/** What the routes need; built once by the serve command. */
export interface AppContext {
    service: MentatorService;
    health(): HealthReport;
}
