import { afterAll, beforeAll } from 'vitest';
import { handlesBeyond, openHandles } from './packages/dev-server/src/handles';

// Every test file must release what it opened: sockets, servers, timers, child processes.
// A file that leaves one open fails here, naming the kind of handle.
let baseline = new Map<string, number>();

beforeAll(() => {
  baseline = openHandles();
});

afterAll(async () => {
  // A closed socket leaves the active list on a later turn of the event loop, so look a
  // few times before calling it a leak. The wait is bounded: 40 turns of 5 ms.
  let found = handlesBeyond(baseline);
  for (let i = 0; i < 40 && found.length > 0; i++) {
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
    found = handlesBeyond(baseline);
  }
  if (found.length > 0) {
    throw new Error(`Open handles left after this test file: ${found.join(', ')}`);
  }
});
