#!/usr/bin/env node
import { main } from "./cli/main.js";

const code = await main(process.argv);
process.exitCode = code;
