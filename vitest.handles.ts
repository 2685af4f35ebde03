import { afterAll, beforeAll } from 'vitest';

// Every test file must release what it opened: sockets, servers, timers, child processes.
// A file that leaves one open fails here, naming the kind of handle.
const watched = new Set([
  'TCPSocketWrap',
  'TCPServerWrap',
  'PipeServerWrap',
  'Timeout',
  'ProcessWrap',
  'FSEventWrap',
  'UDPWrap',
]);

function count(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) {
    if (watched.has(kind)) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return counts;
}

function leaks(baseline: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [kind, n] of count()) {
    const extra = n - (baseline.get(kind) ?? 0);
    if (extra > 0) out.push(`${extra} × ${kind}`);
  }
  return out;
}

let baseline = new Map<string, number>();

beforeAll(() => {
  baseline = count();
});

afterAll(async () => {
  // A closed socket leaves the active list on a later turn of the event loop, so look a
  // few times before calling it a leak. The wait is bounded: 40 turns of 5 ms.
  let found = leaks(baseline);
  for (let i = 0; i < 40 && found.length > 0; i++) {
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
    found = leaks(baseline);
  }
  if (found.length > 0) {
    throw new Error(`Open handles left after this test file: ${found.join(', ')}`);
  }
});
