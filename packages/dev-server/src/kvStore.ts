import { SortedKeys } from './sortedKeys';

export interface KvEntry {
  Key: string;
  /** Raw bytes; `null` for an empty value, as Consul returns it. */
  Value: Buffer | null;
  /** uint64 as decimal digits: larger than JavaScript numbers can hold exactly. */
  Flags: string;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Session?: string;
}

export interface KvSnapshot {
  tableIndex: number;
  entries: {
    Key: string;
    Value: string | null;
    Flags: string;
    CreateIndex: number;
    ModifyIndex: number;
    LockIndex: number;
    Session?: string;
  }[];
  tombstones: [string, number][];
}

type Undo = () => void;

/**
 * The KV table with Consul's index rules: a key read carries the entry's ModifyIndex (or the
 * table's highest index when the key is missing); a prefix read carries the highest
 * ModifyIndex among its entries and the tombstones of keys deleted under it.
 */
export class KvStore {
  private readonly entries = new Map<string, KvEntry>();
  private readonly keys = new SortedKeys();
  private readonly tombstones = new Map<string, number>();
  private readonly tombstoneKeys = new SortedKeys();
  private tableIndex = 0;
  private undoLog: Undo[] | undefined;
  private pendingNotify: Set<string> | undefined;

  constructor(private readonly notify: (key: string) => void) {}

  get(key: string): KvEntry | undefined {
    return this.entries.get(key);
  }

  /** The index a read of one key answers with. */
  keyIndex(key: string): number {
    return this.entries.get(key)?.ModifyIndex ?? this.tableIndex;
  }

  list(prefix: string): KvEntry[] {
    const out: KvEntry[] = [];
    for (const key of this.keys.withPrefix(prefix)) out.push(this.entries.get(key)!);
    return out;
  }

  /** The index a read of a prefix (recurse or keys) answers with. */
  prefixIndex(prefix: string): number {
    if (prefix === '') return this.tableIndex;
    let max = 0;
    for (const key of this.keys.withPrefix(prefix)) {
      const index = this.entries.get(key)!.ModifyIndex;
      if (index > max) max = index;
    }
    for (const key of this.tombstoneKeys.withPrefix(prefix)) {
      const index = this.tombstones.get(key)!;
      if (index > max) max = index;
    }
    return max === 0 ? this.tableIndex : max;
  }

  keysUnder(prefix: string, separator: string | undefined): string[] {
    const out: string[] = [];
    for (const key of this.keys.withPrefix(prefix)) {
      if (separator) {
        const cut = key.indexOf(separator, prefix.length);
        if (cut >= 0) {
          const folder = key.slice(0, cut + separator.length);
          if (out[out.length - 1] !== folder) out.push(folder);
          continue;
        }
      }
      out.push(key);
    }
    return out;
  }

  /** Writes a key; with `cas`, only when the entry's ModifyIndex equals it (0: absent). */
  set(key: string, value: Buffer | null, flags: string, index: number, cas?: number): boolean {
    const existing = this.entries.get(key);
    if (cas !== undefined && (existing?.ModifyIndex ?? 0) !== cas) return false;
    this.put(key, existing, value, flags, existing?.LockIndex ?? 0, existing?.Session, index);
    return true;
  }

  /**
   * Stores a new entry object for `key` (entries are never changed in place). Every KV write
   * comes through here, so it builds one object and searches the sorted keys only for a key
   * that is new.
   */
  private put(
    key: string,
    existing: KvEntry | undefined,
    value: Buffer | null,
    flags: string,
    lockIndex: number,
    session: string | undefined,
    index: number,
  ): void {
    this.record(key);
    const entry: KvEntry = {
      Key: key,
      Value: value,
      Flags: flags,
      CreateIndex: existing?.CreateIndex ?? index,
      ModifyIndex: index,
      LockIndex: lockIndex,
    };
    if (session) entry.Session = session;
    this.entries.set(key, entry);
    // A key that exists is in the sorted keys already.
    if (!existing) this.keys.add(key);
    this.dropTombstone(key);
    this.touched(key, index);
  }

  /**
   * `?acquire=`: writes the key and locks it for `session` unless another session holds it.
   * Taking a free lock raises LockIndex; writing again under a lock already held does not.
   */
  lock(key: string, value: Buffer | null, flags: string, session: string, index: number): boolean {
    const existing = this.entries.get(key);
    if (existing?.Session && existing.Session !== session) return false;
    const lockIndex = existing ? existing.LockIndex + (existing.Session === session ? 0 : 1) : 1;
    this.put(key, existing, value, flags, lockIndex, session, index);
    return true;
  }

  /** `?release=`: writes the key and unlocks it, only when `session` holds it. */
  unlock(
    key: string,
    value: Buffer | null,
    flags: string,
    session: string,
    index: number,
  ): boolean {
    const existing = this.entries.get(key);
    if (!existing || existing.Session !== session) return false;
    this.put(key, existing, value, flags, existing.LockIndex, undefined, index);
    return true;
  }

  /**
   * An invalidated session's keys: unlocked (their value kept) or deleted, per its behavior,
   * all at `index`. Returns the keys it held.
   */
  dropSession(session: string, behavior: 'release' | 'delete', index: number): string[] {
    const held: KvEntry[] = [];
    for (const entry of this.entries.values()) if (entry.Session === session) held.push(entry);
    for (const e of held) {
      if (behavior === 'release') {
        this.put(e.Key, e, e.Value, e.Flags, e.LockIndex, undefined, index);
        continue;
      }
      this.record(e.Key);
      this.remove(e.Key, index);
      this.touched(e.Key, index);
    }
    return held.map((e) => e.Key);
  }

  /** Deletes a key; with `cas`, only when the entry's ModifyIndex equals it. */
  delete(key: string, index: number, cas?: number): boolean {
    const existing = this.entries.get(key);
    if (cas !== undefined && (existing?.ModifyIndex ?? 0) !== cas) return false;
    if (!existing) return true;
    this.record(key);
    this.remove(key, index);
    this.touched(key, index);
    return true;
  }

  deleteTree(prefix: string, index: number): void {
    const doomed = [...this.keys.withPrefix(prefix)];
    for (const key of doomed) {
      this.record(key);
      this.remove(key, index);
      this.touched(key, index);
    }
  }

  /**
   * Runs `fn` as one atomic change: if it throws, every write it made is undone and no
   * watcher hears of any of them; if it returns, watchers are told once per key.
   */
  atomically<T>(fn: () => T): T {
    const undo: Undo[] = [];
    const notify = new Set<string>();
    const tableIndex = this.tableIndex;
    this.undoLog = undo;
    this.pendingNotify = notify;
    try {
      const result = fn();
      this.undoLog = undefined;
      this.pendingNotify = undefined;
      for (const key of notify) this.notify(key);
      return result;
    } catch (error) {
      this.undoLog = undefined;
      this.pendingNotify = undefined;
      for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
      this.tableIndex = tableIndex;
      throw error;
    }
  }

  /** Forgets every tombstone, as Consul's reaper does; prefix indexes may go backwards. */
  reapTombstones(): void {
    this.tombstones.clear();
    this.tombstoneKeys.clear();
  }

  snapshot(): KvSnapshot {
    return {
      tableIndex: this.tableIndex,
      entries: [...this.entries.values()].map((e) => ({
        Key: e.Key,
        Value: e.Value === null ? null : e.Value.toString('base64'),
        Flags: e.Flags,
        CreateIndex: e.CreateIndex,
        ModifyIndex: e.ModifyIndex,
        LockIndex: e.LockIndex,
        ...(e.Session ? { Session: e.Session } : {}),
      })),
      tombstones: [...this.tombstones],
    };
  }

  /** Replaces the whole table; returns the keys whose watchers must be woken. */
  restore(snapshot: KvSnapshot): Set<string> {
    const affected = new Set([...this.entries.keys(), ...this.tombstones.keys()]);
    this.entries.clear();
    this.keys.clear();
    this.reapTombstones();
    for (const e of snapshot.entries) {
      this.entries.set(e.Key, {
        ...e,
        Value: e.Value === null ? null : Buffer.from(e.Value, 'base64'),
      });
      this.keys.add(e.Key);
      affected.add(e.Key);
    }
    for (const [key, index] of snapshot.tombstones) {
      this.tombstones.set(key, index);
      this.tombstoneKeys.add(key);
      affected.add(key);
    }
    this.tableIndex = snapshot.tableIndex;
    return affected;
  }

  private remove(key: string, index: number): void {
    this.entries.delete(key);
    this.keys.delete(key);
    this.tombstones.set(key, index);
    this.tombstoneKeys.add(key);
  }

  private dropTombstone(key: string): void {
    if (this.tombstones.delete(key)) this.tombstoneKeys.delete(key);
  }

  private touched(key: string, index: number): void {
    if (index > this.tableIndex) this.tableIndex = index;
    if (this.pendingNotify) this.pendingNotify.add(key);
    else this.notify(key);
  }

  /** Inside `atomically`, remembers how to put `key` back as it is now. */
  private record(key: string): void {
    if (!this.undoLog) return;
    const entry = this.entries.get(key);
    const tombstone = this.tombstones.get(key);
    this.undoLog.push(() => {
      if (entry) {
        this.entries.set(key, entry);
        this.keys.add(key);
      } else {
        this.entries.delete(key);
        this.keys.delete(key);
      }
      if (tombstone !== undefined) {
        this.tombstones.set(key, tombstone);
        this.tombstoneKeys.add(key);
      } else this.dropTombstone(key);
    });
  }
}
