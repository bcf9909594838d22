import fs from "node:fs/promises";
import { readGgufFileInfo } from "node-llama-cpp";
import { makeTinyModel } from "./models.js";

/**
 * The tiny synthetic model with its byte tokens (<0x00>..<0xFF>, ids 3..258) no longer suppressed: their
 * output rows lose the large negative weight on the bias channel, so about half of what it generates are
 * byte tokens, most of them lone bytes that are not valid UTF-8. For the llama-server UTF-8 guard.
 */
export async function makeByteTokenModel(dir: string, name = "bytes"): Promise<string> {
    const file = await makeTinyModel(dir, name, { quant: "f32" });
    const info = await readGgufFileInfo(file, { sourceType: "filesystem", logWarnings: false });
    const output = info.fullTensorInfo?.find((tensor) => tensor.name === "output.weight");
    if (output === undefined || output.ggmlType !== 0) throw new Error("tiny model without an f32 output.weight");
    const rowValues = Number(output.dimensions[0]);
    const handle = await fs.open(file, "r+");
    try {
        const zero = Buffer.alloc(4);
        for (let id = 3; id <= 258; id++) {
            // Element 0 of a row is the bias channel (SYNTH_BIAS_CHANNEL).
            await handle.write(zero, 0, 4, Number(output.fileOffset) + id * rowValues * 4);
        }
    } finally {
        await handle.close();
    }
    return file;
}
