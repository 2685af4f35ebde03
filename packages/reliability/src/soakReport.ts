import type { SoakReport } from './soak';

function table(rows: (string | number)[][], header: string[]): string {
  const all = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [
    line(all[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...all.slice(1).map(line),
  ].join('\n');
}

const kinds = (record: Record<string, number>) =>
  Object.entries(record)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');

/** The report as a person reads it: a summary, the watchers, and the verdict. */
export function formatReport(r: SoakReport): string {
  const summary: [string, string | number][] = [
    ['server', r.server],
    ['seed', r.seed],
    [
      'duration',
      `${Math.round(r.durationMs / 1000)} s (whole run ${(r.elapsedMs / 1000).toFixed(1)} s)`,
    ],
    ['writes', `${r.writes.total} (${kinds(r.writes.byKind)}), ${r.writes.failed} failed`],
    ['events', `${r.events.fired} fired, ${r.events.delivered} delivered`],
    ['faults', `${r.faults.total} (${kinds(r.faults.byKind)})`],
    ['server restarts', r.serverRestarts],
    ['proxy requests', r.proxyRequests],
    ['errors seen / reconnects', `${r.errorsSeen} / ${r.reconnects}`],
    ['deliveries', r.deliveries],
    ['duplicates (unchanged data)', r.duplicates],
    ['events twice (by ID)', r.eventDuplicates],
    ['divergent at the end', r.divergent.length === 0 ? 0 : r.divergent.join(', ')],
    [
      'resync after a fault',
      `max ${r.resync.maxMs} ms, median ${r.resync.medianMs} ms over ${r.resync.count} faults`,
    ],
    ...Object.entries(r.resync.byKind)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(
        ([kind, f]) =>
          [`  ${kind}`, `max ${f.maxMs} ms, median ${f.medianMs} ms (${f.count})`] as [
            string,
            string,
          ],
      ),
    ['resync after quiesce', `${r.resync.finalMs} ms`],
    [
      'live again after a write',
      `max ${r.liveAgain.maxMs} ms, median ${r.liveAgain.medianMs} ms (a marker on every topic after each fault)`,
    ],
    ['blocking queries', r.blockingQueries],
    [
      'lock holders',
      `${r.locks.acquisitions} acquisitions, ${r.locks.overlaps} overlaps, most at once: ${kinds(r.locks.maxConcurrent)}; lost: ${kinds(r.locks.losses as Record<string, number>) || 'none'}; leader back after outages: ${r.locks.leaderResumeMs.length > 0 ? `${r.locks.leaderResumeMs.join(', ')} ms` : 'none measured'}`,
    ],
    [
      'rolling consul-env',
      `${r.rollout.restarts} restarts, at most ${r.rollout.maxRestarting} at once (bound ${r.rollout.limit}), ${r.rollout.overlaps} overlaps; slots lost mid-restart: ${r.rollout.slotsLost}, failed: ${r.rollout.failed}`,
    ],
    [
      'RSS start → warm → end of run → closed',
      `${r.memory.rssStartMb} → ${r.memory.rssWarmMb} → ${r.memory.rssRunEndMb} → ${r.memory.rssEndMb} MB (bound after warm-up: +${r.memory.maxGrowthMb} MB)`,
    ],
    [
      'idle window',
      `${r.idle.windowMs} ms: ${r.idle.cpuMsPerSec} ms CPU/s, ${r.idle.requestsPerSec} requests/s, ${r.idle.deliveries} deliveries`,
    ],
    ['handles start', kinds(r.handles.start)],
    ['handles end', kinds(r.handles.end)],
    ['handles leaked', r.handles.leaked.length === 0 ? 'none' : r.handles.leaked.join(', ')],
  ];
  const width = Math.max(...summary.map(([k]) => k.length));
  const watchers = table(
    r.watchers.map((w) => [
      w.name,
      w.deliveries,
      w.duplicates,
      w.errors ?? '-',
      w.converged ? 'yes' : 'NO',
    ]),
    ['watcher', 'deliveries', 'duplicates', 'errors', 'converged'],
  );
  const verdict = r.ok
    ? 'OK: no violation'
    : `FAILED, ${r.violations.length} violation(s):\n${r.violations.map((v) => `  - ${v}`).join('\n')}`;
  return [
    'consul-watch soak run',
    '',
    ...summary.map(([k, v]) => `${k.padEnd(width)}  ${v}`),
    '',
    watchers,
    '',
    verdict,
  ].join('\n');
}
