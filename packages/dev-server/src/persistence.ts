import { open, readFile, rename, rm } from 'node:fs/promises';
import type { DevServerSnapshot } from './devState';

export async function loadSnapshot(file: string): Promise<DevServerSnapshot | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let snapshot: DevServerSnapshot;
  try {
    snapshot = JSON.parse(text) as DevServerSnapshot;
  } catch (error) {
    throw new Error(
      `${file} is not a consul-dev data file: it is not valid JSON (${(error as Error).message}). ${WHAT_TO_DO}`,
    );
  }
  if (snapshot?.version !== 1)
    throw new Error(
      `${file} is not a consul-dev data file (version ${snapshot?.version}). ${WHAT_TO_DO}`,
    );
  if (!isWhole(snapshot))
    throw new Error(`${file} is a damaged consul-dev data file. ${WHAT_TO_DO}`);
  return snapshot;
}

export const WHAT_TO_DO =
  'Move it away or delete it to start with an empty state, or give another file (--data / dataFile).';

const isObject = (value: unknown) => typeof value === 'object' && value !== null;

/** The parts restore() reads; a file cut or edited by hand may lack them. */
function isWhole(s: DevServerSnapshot): boolean {
  return (
    typeof s.index === 'number' &&
    isObject(s.kv) &&
    Array.isArray(s.kv.entries) &&
    Array.isArray(s.kv.tombstones) &&
    isObject(s.catalog) &&
    isObject(s.catalog.tables) &&
    Array.isArray(s.catalog.serviceIndexes) &&
    Array.isArray(s.catalog.nodes) &&
    Array.isArray(s.catalog.services) &&
    Array.isArray(s.catalog.checks) &&
    isObject(s.events) &&
    Array.isArray(s.events.events) &&
    Array.isArray(s.ttlChecks) &&
    (s.sessions === undefined || (isObject(s.sessions) && Array.isArray(s.sessions.sessions)))
  );
}

/**
 * Saves snapshots to one file, atomically: each save goes to a temporary file that is
 * flushed to disk and then renamed over the old one, so a crash mid-write leaves either the
 * old file or the new, never a torn one. Saves are coalesced: while one is being written,
 * further changes only mark the state dirty, and one more save follows with the latest state.
 */
export class SnapshotFile {
  private running: Promise<void> | undefined;
  private dirty = false;
  private lastError: Error | undefined;

  constructor(
    private readonly file: string,
    private readonly take: () => DevServerSnapshot,
    private readonly onError: (error: Error) => void,
  ) {}

  schedule(): void {
    this.dirty = true;
    if (!this.running) this.running = this.drain();
  }

  /** Resolves once everything changed so far is on disk. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    if (this.lastError) throw this.lastError;
  }

  private async drain(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        await this.write(JSON.stringify(this.take()));
      }
      this.lastError = undefined;
    } catch (error) {
      this.lastError = error as Error;
      this.onError(error as Error);
    } finally {
      this.running = undefined;
    }
  }

  private async write(text: string): Promise<void> {
    const tmp = `${this.file}.${process.pid}.tmp`;
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(tmp, this.file);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }
}
