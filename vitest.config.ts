import { defineConfig } from "vitest/config";

export default defineConfig({
    test: {
        include: ["test/**/*.test.ts"],
        pool: "forks",
        // Test files run one at a time: integration tests spawn servers whose llama.cpp threads busy-wait,
        // and two of them on two cores slow each other down by orders of magnitude.
        fileParallelism: false,
        testTimeout: 60_000,
        hookTimeout: 120_000,
        reporters: ["default"]
    }
});
