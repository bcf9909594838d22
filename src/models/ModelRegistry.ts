import { readdirSync, statSync, type Stats } from "node:fs";
import { basename, join } from "node:path";
import type { ModelOverride } from "../config/schema.js";
import type { SqliteDatabase } from "../db/openDatabase.js";
import { InvalidModelIdError, ModelNotFoundError } from "./modelErrors.js";
import type { ModelSummary } from "./ModelSummary.js";
import { readModelSummary } from "./readModelSummary.js";
import { assertSafeModelId, resolveModelFile } from "./resolveModelPath.js";

export type ModelFileState = "available" | "error" | "missing";

export interface ModelEntry {
    id: string;
    /** File name relative to the models directory; undefined for upstream-only models. */
    file?: string;
    path?: string;
    sizeBytes?: number;
    mtimeMs?: number;
    state: ModelFileState;
    error?: string;
    summary?: ModelSummary;
    override?: ModelOverride;
}

export interface ModelRegistryOptions {
    modelsDir: string;
    /** `config.models`: per-id overrides, possibly naming files with other names. */
    overrides?: Record<string, ModelOverride>;
    /** Caches GGUF summaries by path + size + mtime + inode so rescans don't reread headers. */
    db?: SqliteDatabase;
    readSummary?: (path: string) => Promise<ModelSummary>;
}

interface CachedRow {
    size: number;
    mtime_ms: number;
    inode: number;
    summary_json: string | null;
    error: string | null;
}

const GGUF_SUFFIX = ".gguf";

/** The models in modelDir (plus config-declared ones), their GGUF summaries and any error reading them. */
export class ModelRegistry {
    private readonly options: ModelRegistryOptions;
    private readonly readSummary: (path: string) => Promise<ModelSummary>;
    private entries = new Map<string, ModelEntry>();

    public constructor(options: ModelRegistryOptions) {
        this.options = options;
        this.readSummary = options.readSummary ?? readModelSummary;
    }

    public get modelsDir(): string {
        return this.options.modelsDir;
    }

    /** Rescans the models directory. A corrupt or unreadable file becomes an entry in the error state. */
    public async refresh(): Promise<ModelEntry[]> {
        const next = new Map<string, ModelEntry>();
        const claimedFiles = new Set<string>();
        for (const [id, override] of Object.entries(this.options.overrides ?? {})) {
            const entry = await this.describeConfigured(id, override);
            next.set(id, entry);
            if (entry.file !== undefined) claimedFiles.add(entry.file);
        }
        for (const file of this.listGgufFiles()) {
            if (claimedFiles.has(file)) continue;
            const id = basename(file, GGUF_SUFFIX);
            if (next.has(id)) continue;
            next.set(id, await this.describeFile(id, file, undefined));
        }
        this.entries = new Map([...next.entries()].sort(([a], [b]) => a.localeCompare(b)));
        return this.list();
    }

    public list(): ModelEntry[] {
        return [...this.entries.values()];
    }

    /** True when at least one usable GGUF file (or upstream model) is present. */
    public hasUsableModels(): boolean {
        return this.list().some((entry) => entry.state === "available");
    }

    /** Finds a model by id, rescanning once on a miss so files copied in after start are found. */
    public async get(id: string): Promise<ModelEntry> {
        assertSafeModelId(id);
        let entry = this.entries.get(id);
        if (entry === undefined) {
            await this.refresh();
            entry = this.entries.get(id);
        }
        if (entry === undefined) throw new ModelNotFoundError(id);
        return entry;
    }

    private listGgufFiles(): string[] {
        let names: string[];
        try {
            names = readdirSync(this.options.modelsDir);
        } catch {
            return [];
        }
        return names.filter((name) => name.toLowerCase().endsWith(GGUF_SUFFIX) && !name.startsWith(".")).sort();
    }

    private async describeConfigured(id: string, override: ModelOverride): Promise<ModelEntry> {
        try {
            assertSafeModelId(id);
        } catch (error) {
            return { id, state: "error", error: (error as Error).message, override };
        }
        if (override.upstream !== undefined && override.file === undefined) {
            return { id, state: "available", override };
        }
        return this.describeFile(id, override.file ?? `${id}${GGUF_SUFFIX}`, override);
    }

    private async describeFile(id: string, file: string, override: ModelOverride | undefined): Promise<ModelEntry> {
        let path: string;
        try {
            path = resolveModelFile(this.options.modelsDir, file);
        } catch (error) {
            return { id, file, state: "error", error: (error as InvalidModelIdError).message, override };
        }
        let stats: Stats;
        try {
            stats = statSync(path);
        } catch {
            return { id, file, path, state: "missing", error: `file ${join(this.options.modelsDir, file)} not found`, override };
        }
        if (!stats.isFile()) return { id, file, path, state: "error", error: "not a regular file", override };
        const base = { id, file, path, sizeBytes: stats.size, mtimeMs: Math.trunc(stats.mtimeMs), override };
        const cached = this.readCache(path, stats);
        if (cached !== undefined) return { ...base, ...cached };
        let result: Pick<ModelEntry, "state" | "error" | "summary">;
        try {
            result = { state: "available", summary: await this.readSummary(path) };
        } catch (error) {
            result = { state: "error", error: `cannot read GGUF: ${(error as Error).message}` };
        }
        this.writeCache(path, stats, result);
        return { ...base, ...result };
    }

    private readCache(path: string, stats: Stats): Pick<ModelEntry, "state" | "error" | "summary"> | undefined {
        const row = this.options.db
            ?.prepare("SELECT size, mtime_ms, inode, summary_json, error FROM model_files WHERE path = ?")
            .get(path) as CachedRow | undefined;
        if (row === undefined || row.size !== stats.size || row.mtime_ms !== Math.trunc(stats.mtimeMs) || row.inode !== stats.ino) {
            return undefined;
        }
        if (row.summary_json !== null) return { state: "available", summary: JSON.parse(row.summary_json) as ModelSummary };
        // A row written by the hash cache alone (no header read yet) is not a summary.
        if (row.error === null) return undefined;
        return { state: "error", error: row.error };
    }

    private writeCache(path: string, stats: Stats, result: Pick<ModelEntry, "summary" | "error">): void {
        this.options.db
            ?.prepare(
                `INSERT INTO model_files (path, size, mtime_ms, inode, summary_json, error, scanned_at)
                 VALUES (@path, @size, @mtime, @inode, @summary, @error, @now)
                 ON CONFLICT(path) DO UPDATE SET size = @size, mtime_ms = @mtime, inode = @inode,
                   summary_json = @summary, error = @error, scanned_at = @now,
                   sha256 = CASE WHEN model_files.size = @size AND model_files.mtime_ms = @mtime AND model_files.inode = @inode
                                 THEN model_files.sha256 ELSE NULL END`
            )
            .run({
                path,
                size: stats.size,
                mtime: Math.trunc(stats.mtimeMs),
                inode: stats.ino,
                summary: result.summary !== undefined ? JSON.stringify(result.summary) : null,
                error: result.error ?? null,
                now: Date.now()
            });
    }
}
