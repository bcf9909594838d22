// Compose files, Kubernetes manifests and RunPod templates: the settings the deployment guide relies on.
// (No YAML parser is a dependency, so YAML is checked line by line.)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../helpers/deploySandbox.js";

const read = (...parts: string[]) => readFileSync(join(REPO_ROOT, ...parts), "utf8");
const json = (...parts: string[]) => JSON.parse(read(...parts)) as Record<string, unknown>;
const DATA = "/opt/mentator-llm-service/data";

/** The indented block under the first line matching `header` (a crude YAML section). */
function block(text: string, header: RegExp): string {
    const lines = text.split("\n");
    const start = lines.findIndex((l) => header.test(l));
    if (start < 0) throw new Error(`no ${String(header)}`);
    const indent = /^\s*/.exec(lines[start]!)![0].length;
    const body: string[] = [];
    for (const l of lines.slice(start + 1)) {
        if (l.trim() !== "" && /^\s*/.exec(l)![0].length <= indent) break;
        body.push(l);
    }
    return body.join("\n");
}

describe("compose files", () => {
    const cpu = read("docker", "compose.cpu.yml");
    const nvidia = read("docker", "compose.nvidia.yml");
    const amd = read("docker", "compose.amd.yml");

    it("all publish 19777 and keep the data in the shared mentator-data volume", () => {
        for (const c of [cpu, nvidia, amd]) {
            expect(c).toContain(`- mentator-data:${DATA}`);
            expect(c).toMatch(/- "\$\{MENTATOR_PORT:-19777\}:19777"/);
            expect(c).toMatch(/dockerfile: docker\/Dockerfile/);
        }
        expect(cpu).toMatch(/target: prod-cpu/);
        expect(nvidia).toMatch(/target: prod$/m);
        expect(amd).toMatch(/target: prod$/m);
    });

    it("nvidia reserves GPUs through the nvidia driver", () => {
        const devices = block(nvidia, /^\s+devices:$/);
        expect(devices).toMatch(/driver: nvidia/);
        expect(devices).toMatch(/capabilities: \[gpu\]/);
    });

    it("amd passes /dev/kfd and /dev/dri", () => {
        const devices = block(amd, /^\s+devices:$/);
        expect(devices).toContain("- /dev/kfd");
        expect(devices).toContain("- /dev/dri");
    });
});

describe("Kubernetes", () => {
    const deployment = read("deploy", "kubernetes", "deployment.yaml");
    const statefulset = read("deploy", "kubernetes", "scaling", "statefulset.yaml");

    for (const [name, text] of [["deployment", deployment], ["statefulset", statefulset]] as const) {
        it(`${name}: startup, liveness and readiness probes on /health/live and /health/ready`, () => {
            expect(block(text, /^\s+startupProbe:$/)).toMatch(/path: \/health\/live/);
            expect(block(text, /^\s+livenessProbe:$/)).toMatch(/path: \/health\/live/);
            expect(block(text, /^\s+readinessProbe:$/)).toMatch(/path: \/health\/ready/);
            const startup = block(text, /^\s+startupProbe:$/);
            const budget = Number(/periodSeconds: (\d+)/.exec(startup)![1]) * Number(/failureThreshold: (\d+)/.exec(startup)![1]);
            expect(budget).toBeGreaterThanOrEqual(300); // model copy + load may take minutes
            expect(text).toContain("containerPort: 19777");
            expect(text).toContain(`mountPath: ${DATA}`);
            expect(text).toMatch(/fsGroup: 10001/);
        });
    }

    it("the Deployment mounts the PVC and recreates (ReadWriteOnce)", () => {
        expect(deployment).toMatch(/claimName: mentator-data/);
        expect(deployment).toMatch(/type: Recreate/);
        expect(read("deploy", "kubernetes", "pvc.yaml")).toMatch(/kind: PersistentVolumeClaim[\s\S]*ReadWriteOnce/);
        expect(read("deploy", "kubernetes", "service.yaml")).toMatch(/port: 19777/);
        const kustomization = read("deploy", "kubernetes", "kustomization.yaml");
        for (const f of ["pvc.yaml", "deployment.yaml", "service.yaml"]) expect(kustomization).toContain(`- ${f}`);
    });

    it("the HPA scales the StatefulSet on queue depth", () => {
        const hpa = read("deploy", "kubernetes", "scaling", "hpa.yaml");
        expect(hpa).toMatch(/kind: HorizontalPodAutoscaler/);
        expect(block(hpa, /^\s+scaleTargetRef:$/)).toMatch(/kind: StatefulSet/);
        expect(hpa).toMatch(/name: mentator_queue_\w+/);
        expect(statefulset).toMatch(/volumeClaimTemplates:/);
        const kustomization = read("deploy", "kubernetes", "scaling", "kustomization.yaml");
        for (const f of ["service.yaml", "statefulset.yaml", "hpa.yaml"]) expect(kustomization).toContain(`- ${f}`);
    });
});

describe("RunPod templates", () => {
    it("pod: network volume at /runpod-volume holds MENTATOR_HOME, port 19777 over HTTP", () => {
        const t = json("deploy", "runpod", "pod-template.json");
        expect(t.isServerless).toBe(false);
        expect(t.volumeMountPath).toBe("/runpod-volume");
        expect((t.env as Record<string, string>).MENTATOR_HOME).toMatch(/^\/runpod-volume\//);
        expect(t.ports).toContain("19777/http");
    });

    it("serverless: runs the worker, serves the baked model in place", () => {
        const t = json("deploy", "runpod", "serverless-template.json");
        expect(t.isServerless).toBe(true);
        expect(t.volumeInGb).toBe(0);
        expect(t.dockerStartCmd).toEqual(["node", "distjs/index.js", "worker"]);
        expect((t.env as Record<string, string>).MODELS_DIR).toBe("/opt/mentator-llm-service/default-models");
    });

    it("dev pod: the dev image with pod-dev-entrypoint.sh and its state on the volume", () => {
        const t = json("deploy", "runpod", "dev-pod-template.json");
        expect(String(t.imageName)).toMatch(/:latest-dev$/);
        expect(t.dockerEntrypoint).toContain("/opt/mentator-llm-service/pod-dev-entrypoint.sh");
        expect((t.env as Record<string, string>).MENTATOR_DEV_HOME).toMatch(/^\/runpod-volume\//);
    });
});
