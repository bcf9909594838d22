import type { ServiceConfig } from "../../config/loadConfig.js";
import type { SourceSettings } from "./createModelSource.js";

/** The endpoints and credentials downloads use, from the loaded config (HF_ENDPOINT, HF_TOKEN, storage.*). */
export function sourceSettingsFromConfig(config: ServiceConfig): SourceSettings {
    const s3 = config.storage.s3;
    const gcs = config.storage.gcs;
    return {
        hf: { endpoint: config.hfEndpoint, token: config.hfToken },
        s3: { endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, forcePathStyle: s3.forcePathStyle },
        gcs: { endpoint: gcs.endpoint, projectId: gcs.projectId, credentialsFile: gcs.credentialsFile }
    };
}
