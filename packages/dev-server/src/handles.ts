/** Handle kinds a test file or a run must give back: sockets, servers, timers, child processes. */
export const WATCHED_HANDLES: ReadonlySet<string> = new Set([
  'TCPSocketWrap',
  'TCPServerWrap',
  'PipeServerWrap',
  'Timeout',
  'ProcessWrap',
  'FSEventWrap',
  'UDPWrap',
]);

/** How many handles of each watched kind this process holds now. */
export function openHandles(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) {
    if (WATCHED_HANDLES.has(kind)) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return counts;
}

/** What is open now beyond `baseline`, as `['2 × TCPSocketWrap']`. */
export function handlesBeyond(baseline: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [kind, n] of openHandles()) {
    const extra = n - (baseline.get(kind) ?? 0);
    if (extra > 0) out.push(`${extra} × ${kind}`);
  }
  return out;
}
