/** Offline mode (`offline`, --offline, MENTATOR_OFFLINE=1) forbids downloads. */
export class DownloadsDisabledError extends Error {
    public constructor(what: string) {
        super(`offline mode: not downloading ${what} (unset MENTATOR_OFFLINE / --offline to allow downloads)`);
        this.name = "DownloadsDisabledError";
    }
}
