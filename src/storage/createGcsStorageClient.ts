import { accessSync, constants } from "node:fs";
import { Storage } from "@google-cloud/storage";
import type { ServiceConfig } from "../config/loadConfig.js";
import { StorageConfigError } from "./StorageConfigError.js";

export type GcsStorageSettings = ServiceConfig["storage"]["gcs"];

/** What a client needs of `storage.gcs` (model downloads pass only these). */
export type GcsConnectionSettings = Pick<GcsStorageSettings, "projectId" | "credentialsFile" | "endpoint">;

/** The bucket output uploads go to; a clear error naming GCS_BUCKET when there is none. */
export function requireGcsBucket(settings: GcsStorageSettings): string {
    const bucket = settings.bucket ?? "";
    if (bucket === "") throw new StorageConfigError("GCS_BUCKET", "output mode gcs needs a bucket: set GCS_BUCKET (or storage.gcs.bucket in the config)");
    return bucket;
}

/** Base URL for `https://` object links: the emulator/test endpoint when one is set, else Google's. */
export function gcsPublicBaseUrl(settings: GcsStorageSettings): string {
    const endpoint = settings.endpoint ?? "";
    return (endpoint !== "" ? endpoint : "https://storage.googleapis.com").replace(/\/+$/, "");
}

/**
 * A @google-cloud/storage client from `storage.gcs`. The library's own retries are off: callers retry with
 * GCS_RETRIES / GCS_RETRY_BASE_SLEEP, so the number of attempts is the one the user configured.
 * With GCS_ENDPOINT set the library sends requests there without Google auth (emulators, tests).
 */
export function createGcsStorageClient(settings: GcsConnectionSettings): Storage {
    const keyFile = settings.credentialsFile ?? "";
    if (keyFile !== "") {
        try {
            accessSync(keyFile, constants.R_OK);
        } catch (error) {
            throw new StorageConfigError(
                "GOOGLE_APPLICATION_CREDENTIALS",
                `GOOGLE_APPLICATION_CREDENTIALS (storage.gcs.credentialsFile) names ${keyFile}, which cannot be read: ${(error as Error).message}`
            );
        }
    }
    const endpoint = settings.endpoint ?? "";
    return new Storage({
        projectId: settings.projectId !== undefined && settings.projectId !== "" ? settings.projectId : undefined,
        keyFilename: keyFile !== "" ? keyFile : undefined,
        apiEndpoint: endpoint !== "" ? endpoint : undefined,
        retryOptions: { autoRetry: false, maxRetries: 0 }
    });
}
