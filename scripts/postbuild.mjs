// Makes the compiled CLI entry executable so `mentator` works through npm's bin link.
import { chmodSync } from "node:fs";

chmodSync(new URL("../distjs/index.js", import.meta.url), 0o755);
