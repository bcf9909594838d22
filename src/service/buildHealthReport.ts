import type { MentatorService } from "./MentatorService.js";
import type { ModelSupplyState } from "./ModelSupply.js";

export type HealthStatus = "healthy" | "degraded" | "unhealthy";

export interface QueueStats {
    running: number;
    waiting: number;
    limit: number;
}

export interface HealthReport {
    status: HealthStatus;
    version: string;
    uptime_s: number;
    ready: boolean;
    reason?: string;
    hardware: {
        backend: string;
        requested: string;
        reason: string;
        devices: Array<{ kind: string; name: string; memory_total_bytes?: number; memory_free_bytes?: number }>;
        memory: { total_bytes: number; free_bytes: number };
    };
    models_present: boolean;
    models_dir: string;
    default_model: string | null;
    models: Array<{ id: string; loaded: boolean; state: string; error?: string; percent?: number }>;
    /** Seeding, lock verification and downloads before the default model loads (phase, progress, failure). */
    model_supply: ModelSupplyState;
    db: { status: "ok" | "error"; file: string; error?: string };
    storage: Record<string, "not_configured" | "ok" | "error">;
    queue: QueueStats;
}

function checkDb(service: MentatorService): HealthReport["db"] {
    try {
        service.db.prepare("SELECT 1").get();
        return { status: "ok", file: service.config.dbPath };
    } catch (error) {
        return { status: "error", file: service.config.dbPath, error: (error as Error).message };
    }
}

/**
 * /health: unhealthy only when the service cannot work at all (database gone, shutting down);
 * degraded when it runs but is not ready or a model is in error.
 */
export function buildHealthReport(service: MentatorService, storage: HealthReport["storage"]): HealthReport {
    const queue: QueueStats = { ...service.scheduler.totals(), limit: service.config.limits.maxQueue };
    const readiness = service.readiness();
    const pooled = new Map(service.pool.status().map((model) => [model.id, model]));
    const models: HealthReport["models"] = service.registry.list().map((entry) => {
        const inPool = pooled.get(entry.id);
        const state = inPool?.state ?? (entry.state === "available" ? "unloaded" : entry.state);
        const error = inPool?.error ?? entry.error;
        return { id: entry.id, loaded: inPool?.state === "loaded", state, ...(error !== undefined ? { error } : {}) };
    });
    const supply = service.supply.state();
    if (supply.phase === "downloading") {
        const id = (supply.file?.split("/").pop() ?? supply.uri).replace(/\.gguf$/i, "");
        models.push({ id, loaded: false, state: "downloading", ...(supply.percent !== undefined ? { percent: supply.percent } : {}) });
    }
    const db = checkDb(service);
    const hardware = service.hardware;
    const devices = [
        ...hardware.nvidia.devices.map((device) => ({
            kind: "nvidia",
            name: device.name,
            memory_total_bytes: device.memoryTotalBytes,
            memory_free_bytes: device.memoryFreeBytes
        })),
        ...hardware.amd.devices.map((device) => ({ kind: "amd", name: device.name, memory_total_bytes: device.memoryTotalBytes }))
    ];
    let status: HealthStatus = "healthy";
    if (!readiness.ready || models.some((model) => model.state === "error")) status = "degraded";
    if (db.status === "error" || service.isStopping) status = "unhealthy";
    return {
        status,
        version: service.version().version,
        uptime_s: Math.round((Date.now() - service.startedAt) / 1000),
        ready: readiness.ready,
        ...(readiness.reason !== undefined ? { reason: readiness.reason } : {}),
        hardware: {
            backend: service.backendChoice.backend,
            requested: service.backendChoice.requested,
            reason: service.backendChoice.reason,
            devices,
            memory: { total_bytes: hardware.cpu.memoryTotalBytes, free_bytes: hardware.cpu.memoryFreeBytes }
        },
        models_present: service.registry.hasUsableModels(),
        models_dir: service.config.modelsDir,
        default_model: service.defaultModelId() ?? null,
        models,
        model_supply: supply,
        db,
        storage,
        queue
    };
}
