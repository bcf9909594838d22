/** A configuration problem the user must fix; the CLI prints the message and exits 2. */
export class ConfigError extends Error {
    public readonly problems: readonly string[];

    public constructor(problems: readonly string[]) {
        super(problems.length === 1 ? problems[0]! : `invalid configuration:\n  ${problems.join("\n  ")}`);
        this.name = "ConfigError";
        this.problems = problems;
    }
}
