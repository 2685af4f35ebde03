#!/usr/bin/env node
// consul-watch-soak: runs the soak and exits 1 on any violation.
//   node packages/reliability/dist/cli.js [--duration 60s] [--seed N] [--json]
import { runSoak } from './soak';
import { formatReport } from './soakReport';

const USAGE = `usage: consul-watch-soak [--duration 60s] [--seed N] [--json]

  --duration  how long the writer and the faults run: 90s, 3m, 500ms, or seconds (default 60s)
  --seed      seed of the workload and fault choices (timings still vary from run to run)
  --json      print the report as JSON on stdout (the table goes to stderr)

Uses CONSUL_HTTP_ADDR when set (no server restarts or restores then), else an embedded dev-server.`;

/** `60s`, `3m`, `500ms`, `1h` or a plain number of seconds, in ms. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms =
    unit === 'ms' ? n : unit === 's' ? n * 1_000 : unit === 'm' ? n * 60_000 : n * 3_600_000;
  return ms > 0 ? Math.round(ms) : undefined;
}

async function main(argv: string[]): Promise<number> {
  let durationMs = 60_000;
  let seed: number | undefined;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? arg.split('=', 2) : [arg, undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '--json') json = true;
    else if (flag === '--duration') {
      const text = value();
      const parsed = text === undefined ? undefined : parseDuration(text);
      if (parsed === undefined) {
        console.error(
          `--duration ${JSON.stringify(text ?? '')} is not a duration such as 60s or 3m\n\n${USAGE}`,
        );
        return 2;
      }
      durationMs = parsed;
    } else if (flag === '--seed') {
      const text = value();
      if (text === undefined || !/^\d+$/.test(text)) {
        console.error(`--seed needs a whole number\n\n${USAGE}`);
        return 2;
      }
      seed = Number(text);
    } else if (flag === '--help' || flag === '-h') {
      console.log(USAGE);
      return 0;
    } else {
      console.error(`unknown option ${arg}\n\n${USAGE}`);
      return 2;
    }
  }
  const report = await runSoak({
    durationMs,
    ...(seed !== undefined ? { seed } : {}),
    onProgress: (line) => console.error(`soak: ${line}`),
  });
  if (json) {
    console.error(formatReport(report));
    console.log(JSON.stringify(report, null, 2));
  } else console.log(formatReport(report));
  return report.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
