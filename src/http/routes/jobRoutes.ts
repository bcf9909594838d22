import type { FastifyInstance, FastifyRequest } from "fastify";
import { jobRequestSchema, type JobRequestBody } from "../../jobs/jobRequestSchema.js";
import { jobStatusBody } from "../../jobs/jobStatusBody.js";
import type { AppContext } from "../AppContext.js";
import { HttpError } from "../errors.js";
import { parseBody } from "../parseBody.js";
import { clientAbortSignal } from "../respondWithGeneration.js";

/** RunPod's /runsync and /status-sync wait 90 s unless `?wait=` says otherwise (at most 300 s). */
const DEFAULT_SYNC_WAIT_MS = 90_000;
const MAX_SYNC_WAIT_MS = 300_000;
/** /stream holds an empty answer this long, so clients polling in a loop do not spin. */
const DEFAULT_STREAM_WAIT_MS = 1000;
const MAX_STREAM_WAIT_MS = 30_000;

interface EndpointParams {
    endpoint: string;
}
interface JobParams extends EndpointParams {
    id: string;
}

const ENDPOINT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function endpointOf(request: FastifyRequest<{ Params: EndpointParams }>): string {
    const endpoint = request.params.endpoint;
    if (!ENDPOINT_NAME.test(endpoint)) throw new HttpError(400, `invalid endpoint name "${endpoint}" (letters, digits, _ . -)`, { code: "invalid_endpoint" });
    return endpoint;
}

/** `?wait=` in ms, clamped to [0, max]; absent: the default. */
function waitOf(request: FastifyRequest, fallback: number, max: number): number {
    const raw = (request.query as Record<string, unknown> | undefined)?.wait;
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (typeof raw !== "string" || !Number.isFinite(value) || value < 0) {
        throw new HttpError(400, "wait: expected a number of milliseconds", { param: "wait", code: "invalid_value" });
    }
    return Math.min(max, Math.round(value));
}

/** RunPod Serverless job API (`/v2/{endpoint}/...`): handlers validate and call the job runner. */
export function jobRoutes(app: FastifyInstance, context: AppContext): void {
    const jobs = context.service.jobs;

    const submit = (request: FastifyRequest<{ Params: EndpointParams }>, idPrefix?: string) => {
        const body: JobRequestBody = parseBody(jobRequestSchema, request.body);
        return jobs.submit({
            endpoint: endpointOf(request),
            input: body.input,
            webhook: body.webhook,
            output: body.output,
            executionTimeoutMs: body.policy?.executionTimeout,
            ttlMs: body.policy?.ttl,
            idPrefix
        });
    };

    app.post<{ Params: EndpointParams }>("/v2/:endpoint/run", async (request) => jobStatusBody(submit(request)));

    app.post<{ Params: EndpointParams }>("/v2/:endpoint/runsync", async (request, reply) => {
        const wait = waitOf(request, DEFAULT_SYNC_WAIT_MS, MAX_SYNC_WAIT_MS);
        const job = submit(request, "sync-");
        return jobStatusBody(await jobs.waitForFinal(job.endpoint, job.id, wait, clientAbortSignal(reply)));
    });

    app.get<{ Params: JobParams }>("/v2/:endpoint/status/:id", async (request) => jobStatusBody(jobs.get(endpointOf(request), request.params.id)));

    app.get<{ Params: JobParams }>("/v2/:endpoint/status-sync/:id", async (request, reply) => {
        const wait = waitOf(request, DEFAULT_SYNC_WAIT_MS, MAX_SYNC_WAIT_MS);
        return jobStatusBody(await jobs.waitForFinal(endpointOf(request), request.params.id, wait, clientAbortSignal(reply)));
    });

    app.get<{ Params: JobParams }>("/v2/:endpoint/stream/:id", async (request, reply) => {
        const wait = waitOf(request, DEFAULT_STREAM_WAIT_MS, MAX_STREAM_WAIT_MS);
        const { job, chunks } = await jobs.takeStream(endpointOf(request), request.params.id, wait, clientAbortSignal(reply));
        const status = jobStatusBody(job);
        return {
            status: job.status,
            stream: chunks.map((output) => ({ output })),
            ...(status.error !== undefined ? { error: status.error } : {})
        };
    });

    app.post<{ Params: JobParams }>("/v2/:endpoint/cancel/:id", async (request) => jobStatusBody(jobs.cancel(endpointOf(request), request.params.id)));

    app.post<{ Params: JobParams }>("/v2/:endpoint/retry/:id", async (request) => {
        const job = jobs.retry(endpointOf(request), request.params.id);
        return { id: job.id, status: job.status };
    });

    app.post<{ Params: EndpointParams }>("/v2/:endpoint/purge-queue", async (request) => ({ removed: jobs.purgeQueue(endpointOf(request)), status: "completed" }));

    app.get<{ Params: EndpointParams }>("/v2/:endpoint/health", async (request) => jobs.health(endpointOf(request)));
}
