import fs from "node:fs/promises";
import path from "node:path";

/**
 * Writes an executable stand-in for llama-server (a Node script) into `dir`: it takes `--port`, answers
 * /health after `FAKE_READY_MS`, exits with code 3 at start while the counter file `FAKE_FAIL_FILE` holds a
 * number above 0 (decrementing it), and answers chat completions slowly (streamed: a chunk per 50 ms; plain: after 1 s). For lifecycle tests without a build.
 */
export async function writeFakeLlamaServer(dir: string): Promise<string> {
    const file = path.join(dir, "llama-server");
    const script = `#!${process.execPath}
const http = require("node:http");
const fs = require("node:fs");
const args = process.argv.slice(2);
const port = Number(args[args.indexOf("--port") + 1]);
const failFile = process.env.FAKE_FAIL_FILE;
if (failFile && fs.existsSync(failFile)) {
    const left = Number(fs.readFileSync(failFile, "utf8"));
    if (left > 0) {
        fs.writeFileSync(failFile, String(left - 1));
        console.error("fake: failing on purpose, " + (left - 1) + " failures left");
        process.exit(3);
    }
}
console.error("fake: loading model " + args[args.indexOf("-m") + 1]);
const readyAt = Date.now() + Number(process.env.FAKE_READY_MS || 0);
http.createServer((req, res) => {
    if (req.url === "/health") {
        res.writeHead(Date.now() >= readyAt ? 200 : 503).end("{}");
    } else if (req.url === "/props") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ default_generation_settings: { n_ctx: 256 }, total_slots: 2, chat_template: "x" }));
    } else if (req.url === "/v1/models") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ data: [{ id: "m", meta: { n_ctx_train: 4096, n_embd: 64 } }] }));
    } else if (req.url === "/v1/chat/completions") {
        let body = "";
        req.on("data", (chunk) => (body += chunk));
        req.on("end", () => chat(JSON.parse(body), req, res));
    } else {
        res.writeHead(404).end();
    }
}).listen(port, "127.0.0.1", () => console.error("fake: listening on " + port));
process.on("SIGTERM", () => process.exit(0));

function chat(body, req, res) {
    const text = Array.from({ length: 20 }, (_, i) => "t" + (i + 1)).join("");
    if (!body.stream) {
        setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({
            choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "length" }],
            usage: { prompt_tokens: 4, completion_tokens: 20 }
        })), 1000);
        return;
    }
    {
        res.writeHead(200, { "content-type": "text/event-stream" });
        let n = 0;
        const timer = setInterval(() => {
            n++;
            res.write("data: " + JSON.stringify({ choices: [{ index: 0, delta: { content: "t" + n } }] }) + "\\n\\n");
            if (n === 20) {
                clearInterval(timer);
                res.write("data: " + JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "length" }] }) + "\\n\\n");
                res.end("data: " + JSON.stringify({ choices: [], usage: { prompt_tokens: 4, completion_tokens: 20 } }) + "\\n\\ndata: [DONE]\\n\\n");
            }
        }, 50);
        res.on("close", () => clearInterval(timer));
    }
}
`;
    await fs.writeFile(file, script, { mode: 0o755 });
    return file;
}
