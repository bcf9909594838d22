/** An AbortSignal that fires on the first SIGINT or SIGTERM, for one-shot commands; dispose() unhooks it. */
export function abortOnSignals(): { signal: AbortSignal; dispose(): void } {
    const controller = new AbortController();
    const onSignal = (signal: NodeJS.Signals): void => controller.abort(new Error(`interrupted by ${signal}`));
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    return {
        signal: controller.signal,
        dispose: () => {
            process.off("SIGINT", onSignal);
            process.off("SIGTERM", onSignal);
        }
    };
}
