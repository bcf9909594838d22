import { defineConfig } from "vitest/config";

export default defineConfig({
    test: {
        include: ["test/**/*.test.ts"],
        pool: "forks",
        // Two cores: integration tests spawn servers that load real models.
        maxWorkers: 2,
        testTimeout: 60_000,
        hookTimeout: 120_000,
        reporters: ["default"]
    }
});
