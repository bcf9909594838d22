const MIB = 1024 * 1024;

/** Not enough free space in the models directory for the file being downloaded. */
export class InsufficientDiskSpaceError extends Error {
    public readonly directory: string;
    public readonly neededBytes: number;
    public readonly availableBytes: number;

    public constructor(directory: string, neededBytes: number, availableBytes: number) {
        super(`not enough disk space in ${directory}: need ${(neededBytes / MIB).toFixed(1)} MiB, ${(availableBytes / MIB).toFixed(1)} MiB free`);
        this.name = "InsufficientDiskSpaceError";
        this.directory = directory;
        this.neededBytes = neededBytes;
        this.availableBytes = availableBytes;
    }
}
