// Loaded with `node --import`: prints, at exit, the npm packages whose modules were resolved (one JSON array on
// stderr). CommonJS requires made inside a package are not seen; the package's own entry is.
import { register } from "node:module";
import { MessageChannel } from "node:worker_threads";

const { port1, port2 } = new MessageChannel();
const packages = new Set();
port1.on("message", (name) => packages.add(name));
port1.unref();
register(
    "data:text/javascript," +
        encodeURIComponent(`
            let port;
            export function initialize(data) { port = data.port; }
            export async function resolve(specifier, context, next) {
                const result = await next(specifier, context);
                const match = /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(result.url);
                if (match) port.postMessage(match[1]);
                return result;
            }
        `),
    { data: { port: port2 }, transferList: [port2] }
);
process.on("exit", () => process.stderr.write(`${JSON.stringify([...packages].sort())}\n`));
