import { constants, existsSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";

export interface SeedResult {
    /** File names copied into the models directory. */
    copied: string[];
    /** Why nothing was copied, when nothing was. */
    skipped?: string;
}

const SEED_TMP = /^\..+\.seed-tmp\.\d+$/;

function hasGguf(directory: string): boolean {
    try {
        return readdirSync(directory).some((name) => name.toLowerCase().endsWith(".gguf") && !name.startsWith("."));
    } catch {
        return false;
    }
}

/**
 * Docker first run: copies the image's baked `default-models/*` into the models volume when it holds no GGUF.
 * Each file is copied to a hidden temp name and then hard-linked into place, which fails rather than replaces,
 * so a user's file is never overwritten and a crash mid-copy leaves no half file under a real name.
 */
export async function seedDefaultModels(from: string, to: string): Promise<SeedResult> {
    // The volume's models/ should exist even when there is nothing to seed: users copy files into it.
    mkdirSync(to, { recursive: true });
    if (!existsSync(from)) return { copied: [], skipped: `${from} does not exist` };
    for (const name of readdirSync(to)) {
        if (SEED_TMP.test(name)) rmSync(join(to, name), { force: true }); // left by an interrupted seed
    }
    if (hasGguf(to)) return { copied: [], skipped: `${to} already has models` };
    const copied: string[] = [];
    for (const name of readdirSync(from).sort()) {
        if (name.startsWith(".")) continue;
        const source = join(from, name);
        if (!statSync(source).isFile()) continue;
        const target = join(to, name);
        if (existsSync(target)) continue;
        const temporary = join(to, `.${name}.seed-tmp.${process.pid}`);
        await copyFile(source, temporary, constants.COPYFILE_FICLONE);
        try {
            linkSync(temporary, target);
        } catch (error) {
            const code = (error as NodeJS.ErrnoException).code;
            if (code === "EEXIST") {
                rmSync(temporary, { force: true });
                continue;
            }
            // File systems without hard links: rename (the existence check above guards the common case).
            if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw error;
            if (existsSync(target)) {
                rmSync(temporary, { force: true });
                continue;
            }
            renameSync(temporary, target);
            copied.push(name);
            continue;
        }
        rmSync(temporary, { force: true });
        copied.push(name);
    }
    return { copied };
}
