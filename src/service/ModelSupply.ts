import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ServiceConfig } from "../config/loadConfig.js";
import type { SqliteDatabase } from "../db/openDatabase.js";
import type { DownloadEvent } from "../models/download/DownloadEvent.js";
import { isModelUri } from "../models/download/parseModelUri.js";
import { pullModel } from "../models/download/pullModel.js";
import { sourceSettingsFromConfig } from "../models/download/sourceSettingsFromConfig.js";
import { verifyLock } from "../models/lock/verifyLock.js";
import type { ModelRegistry } from "../models/ModelRegistry.js";
import { ModelSourceStore } from "../models/ModelSourceStore.js";
import { seedDefaultModels } from "../models/seedDefaultModels.js";
import type { Logger } from "../util/logger.js";

export type ModelSupplyState =
    | { phase: "pending" }
    | { phase: "seeding"; from: string }
    | { phase: "verifying"; lockPath: string }
    | { phase: "downloading"; uri: string; file?: string; completed: number; total?: number; percent?: number; bytesPerSecond?: number }
    | { phase: "done" }
    | { phase: "failed"; reason: string };

export type ModelSupplyOutcome = { ok: true; defaultModelId?: string } | { ok: false; reason: string };

export interface ModelSupplyOptions {
    config: ServiceConfig;
    db: SqliteDatabase;
    registry: ModelRegistry;
    log: Logger;
}

const MAX_PROBLEMS_IN_REASON = 3;
const LOG_PROGRESS_EVERY_MS = 10_000;

/**
 * What happens to models before the default one loads: Docker seeding, lock verification (fetching missing
 * locked models unless offline) and the download of a `defaultModel` given as a URI. Its state feeds /health
 * and readiness; failures are reported there and the service keeps running.
 */
export class ModelSupply {
    private readonly options: ModelSupplyOptions;
    private readonly abortController = new AbortController();
    private current: ModelSupplyState = { phase: "pending" };
    private running: Promise<ModelSupplyOutcome> | undefined;

    public constructor(options: ModelSupplyOptions) {
        this.options = options;
    }

    public state(): ModelSupplyState {
        return this.current;
    }

    /** Why the service cannot be ready yet because of model supply; undefined once supply is done. */
    public blockingReason(): string | undefined {
        const state = this.current;
        switch (state.phase) {
            case "pending":
                return "preparing models";
            case "seeding":
                return `copying default models from ${state.from}`;
            case "verifying":
                return `verifying model lock ${state.lockPath}`;
            case "downloading":
                return `downloading ${state.uri}${state.percent !== undefined ? ` (${state.percent}%)` : ""}`;
            case "failed":
                return state.reason;
            case "done":
                return undefined;
        }
    }

    /** Runs the supply steps once (later calls share the first run). */
    public run(): Promise<ModelSupplyOutcome> {
        this.running ??= this.runSteps().then(
            (outcome) => {
                this.current = outcome.ok ? { phase: "done" } : { phase: "failed", reason: outcome.reason };
                return outcome;
            },
            (error: unknown) => {
                const reason = `model supply failed: ${(error as Error).message}`;
                this.current = { phase: "failed", reason };
                return { ok: false, reason };
            }
        );
        return this.running;
    }

    /** Stops a download in progress (the partial file stays for the next start to resume). */
    public abort(): void {
        this.abortController.abort(new Error("the service is shutting down"));
    }

    private async runSteps(): Promise<ModelSupplyOutcome> {
        const { config, log, registry } = this.options;
        if (config.dockerMode) {
            const from = join(config.rootDir, "default-models");
            this.current = { phase: "seeding", from };
            const seeded = await seedDefaultModels(from, config.modelsDir);
            if (seeded.copied.length > 0) {
                log.info({ from, files: seeded.copied }, "copied default models into the models directory");
                await registry.refresh();
            } else {
                log.debug({ reason: seeded.skipped ?? "nothing to copy" }, "default models not seeded");
            }
        }

        if (config.lockPathExplicit || existsSync(config.lockPath)) {
            const failure = await this.verifyLockAtStart();
            if (failure !== undefined) return { ok: false, reason: failure };
            await registry.refresh();
        }

        if (isModelUri(config.defaultModel)) return this.supplyDefaultModel(config.defaultModel);
        return { ok: true };
    }

    private async verifyLockAtStart(): Promise<string | undefined> {
        const { config, db, log } = this.options;
        const lockPath = config.lockPath;
        if (!existsSync(lockPath)) return `model lock ${lockPath} not found (named by LOCK_PATH / lockFile)`;
        this.current = { phase: "verifying", lockPath };
        const settings = sourceSettingsFromConfig(config);
        let report;
        try {
            report = await verifyLock({
                lockPath,
                modelsDir: config.modelsDir,
                db,
                signal: this.abortController.signal,
                onHashing: (model) => log.info({ file: model.file }, "hashing model file (first verification)"),
                fetchModel: config.offline
                    ? undefined
                    : async (model) => {
                          const pulled = await pullModel({
                              uri: model.source!,
                              file: model.file,
                              modelsDir: config.modelsDir,
                              settings,
                              db,
                              expectedSha256: model.sha256,
                              expectedSize: model.size,
                              signal: this.abortController.signal,
                              onEvent: this.trackDownload(model.source!, model.file)
                          });
                          this.current = { phase: "verifying", lockPath };
                          return pulled;
                      }
            });
        } catch (error) {
            return `model lock verification failed: ${(error as Error).message}`;
        }
        for (const check of report.models) {
            if (check.status === "ok" || check.status === "fetched") log.debug({ file: check.file, cached: check.cached }, check.message);
            else log.error({ file: check.file, status: check.status }, check.message);
        }
        if (!report.ok) {
            const shown = report.problems.slice(0, MAX_PROBLEMS_IN_REASON).join("; ");
            const more = report.problems.length > MAX_PROBLEMS_IN_REASON ? ` (+${report.problems.length - MAX_PROBLEMS_IN_REASON} more)` : "";
            return `model lock ${lockPath} verification failed: ${shown}${more}`;
        }
        log.info({ lock: lockPath, models: report.models.length, fastPath: report.fastPath, ms: Math.round(report.durationMs) }, "model lock verified");
        return undefined;
    }

    private async supplyDefaultModel(uri: string): Promise<ModelSupplyOutcome> {
        const { config, db, log, registry } = this.options;
        // A restart finds the file pulled before: no network, no re-hash.
        const previous = new ModelSourceStore(db).findBySource(uri);
        if (previous !== undefined && existsSync(previous.path)) {
            await registry.refresh();
            const entry = registry.list().find((model) => model.path === previous.path);
            if (entry !== undefined) return { ok: true, defaultModelId: entry.id };
        }
        if (config.offline) return { ok: false, reason: `default model ${uri} has not been downloaded and offline mode forbids downloading it` };
        log.info({ uri }, "downloading the default model");
        try {
            const pulled = await pullModel({
                uri,
                modelsDir: config.modelsDir,
                settings: sourceSettingsFromConfig(config),
                db,
                signal: this.abortController.signal,
                onEvent: this.trackDownload(uri, undefined)
            });
            log.info({ uri, file: pulled.file, sha256: pulled.sha256, size: pulled.size, status: pulled.status }, "default model downloaded");
            await registry.refresh();
            return { ok: true, defaultModelId: pulled.id };
        } catch (error) {
            if (this.abortController.signal.aborted) return { ok: false, reason: "shutting down (the partial download is kept for the next start)" };
            const reason = `downloading default model ${uri} failed: ${(error as Error).message}`;
            log.error({ uri, err: (error as Error).message }, "default model download failed");
            return { ok: false, reason };
        }
    }

    /** Turns download events into the `downloading` state and a progress log line every few seconds. */
    private trackDownload(uri: string, file: string | undefined): (event: DownloadEvent) => void {
        let lastLogAt = 0;
        return (event) => {
            const log = this.options.log;
            switch (event.type) {
                case "start":
                    this.current = { phase: "downloading", uri, file: file ?? event.path, completed: event.resumedFrom, total: event.total, percent: percentOf(event.resumedFrom, event.total) };
                    log.info({ uri, location: event.location, total: event.total, resumedFrom: event.resumedFrom }, "download started");
                    break;
                case "progress": {
                    this.current = { phase: "downloading", uri, file: file ?? (this.current.phase === "downloading" ? this.current.file : undefined), completed: event.completed, total: event.total, percent: percentOf(event.completed, event.total), bytesPerSecond: Math.round(event.bytesPerSecond) };
                    const now = Date.now();
                    if (now - lastLogAt >= LOG_PROGRESS_EVERY_MS) {
                        lastLogAt = now;
                        log.info({ uri, completed: event.completed, total: event.total, percent: percentOf(event.completed, event.total), bytesPerSecond: Math.round(event.bytesPerSecond) }, "downloading");
                    }
                    break;
                }
                case "retry":
                    log.warn({ uri, attempt: event.attempt, delayMs: event.delayMs, err: event.error }, "download interrupted; retrying");
                    break;
                case "restart":
                    log.warn({ uri, reason: event.reason }, "download restarted");
                    break;
                case "verifying":
                case "done":
                    break;
            }
        };
    }
}

function percentOf(completed: number, total: number | undefined): number | undefined {
    if (total === undefined || total === 0) return undefined;
    return Math.min(100, Math.floor((completed / total) * 1000) / 10);
}
