/** The endpoint name is not in `jobs.endpoints`. */
export class UnknownEndpointError extends Error {
    public readonly endpoint: string;

    public constructor(endpoint: string, known: readonly string[]) {
        super(`endpoint "${endpoint}" is not configured (jobs.endpoints: ${known.join(", ")})`);
        this.name = "UnknownEndpointError";
        this.endpoint = endpoint;
    }
}
