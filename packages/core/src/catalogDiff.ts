export interface CatalogChanges<T> {
  added: T[];
  removed: T[];
  changed: { previous: T; current: T }[];
}

export type CatalogState<T> = ReadonlyMap<string, T>;

// Consul raises these on writes that change nothing a watcher can see.
const dropIndexes = (name: string, value: unknown) =>
  name === 'CreateIndex' || name === 'ModifyIndex' ? undefined : value;

/** Compares two records, ignoring Create/ModifyIndex at any depth. */
export function sameRecord(a: unknown, b: unknown): boolean {
  return JSON.stringify(a, dropIndexes) === JSON.stringify(b, dropIndexes);
}

/** added / removed / changed between two states keyed by identity; undefined when nothing changed. */
export function diffCatalog<T>(
  prev: CatalogState<T> | undefined,
  next: CatalogState<T>,
): CatalogChanges<T> | undefined {
  const out: CatalogChanges<T> = { added: [], removed: [], changed: [] };
  for (const [id, current] of next) {
    const previous = prev?.get(id);
    if (previous === undefined) out.added.push(current);
    else if (!sameRecord(previous, current)) out.changed.push({ previous, current });
  }
  if (prev) for (const [id, previous] of prev) if (!next.has(id)) out.removed.push(previous);
  return out.added.length + out.removed.length + out.changed.length === 0 ? undefined : out;
}
