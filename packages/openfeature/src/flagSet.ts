import type { KvChange } from '@consul-watch/core';
import type { FeatureFlag, Storage } from '@openfeature/flagd-core';
import type { FlagMetadata, Logger as OpenFeatureLogger } from '@openfeature/server-sdk';
import { EMPTY_DEFINITIONS, FlagCompiler, type FlagDefinitions, readSource } from './flagDocument';
import { FlagDocumentError } from './flagDocumentError';

type KvState = KvChange['entries'];

/** One entry of `sources`: what Consul last said, and the last definitions that were good. */
interface SourceState {
  readonly name: string;
  readonly compiler: FlagCompiler;
  /** Definitions read from Consul (or the last-known-good file) not yet taken in; or why they cannot be. */
  pending: FlagDefinitions | FlagDocumentError | undefined;
  /** Whether Consul (or the file) has said anything of this source yet. */
  heard: boolean;
  good: { definitions: FlagDefinitions; flags: Map<string, FeatureFlag> } | undefined;
  /** The message last reported for this source, so one bad document is reported once. */
  reported: string | undefined;
}

export interface FlagSetUpdate {
  /** Flags added, removed, or whose definition changed, in the order of the sources. */
  changed: string[];
  /** Reasons sources were refused (their last good flags stay), new since the last report. */
  refused: FlagDocumentError[];
}

/**
 * The flags of every source, layered: later sources win per flag key, `$evaluators` merged the
 * same way. It is flagd-core's Storage, so `FlagdCore` evaluates straight from it. A source whose
 * definitions cannot be used keeps its last good ones, whole.
 */
export class FlagSet implements Storage {
  private readonly sources: SourceState[];
  private flags = new Map<string, FeatureFlag>();
  private metadata: FlagMetadata = {};
  private evaluatorsText = '{}';

  constructor(names: readonly string[], logger: OpenFeatureLogger) {
    this.sources = names.map((name) => ({
      name,
      compiler: new FlagCompiler(name, logger),
      pending: undefined,
      heard: false,
      good: undefined,
      reported: undefined,
    }));
  }

  /** Every source has been heard from (from Consul or the last-known-good file). */
  get complete(): boolean {
    return this.sources.every((s) => s.heard);
  }

  /** Takes in what Consul now holds for source `index`; `update()` applies it. */
  receive(index: number, entries: KvState): void {
    const source = this.sources[index]!;
    source.heard = true;
    try {
      source.pending = readSource(source.name, entries);
    } catch (error) {
      source.pending = error as FlagDocumentError;
    }
  }

  /** Takes in saved definitions (from the last-known-good file), by source name. */
  restore(saved: Record<string, FlagDefinitions>): void {
    for (const source of this.sources) {
      source.heard = true;
      source.pending = saved[source.name] ?? EMPTY_DEFINITIONS;
    }
  }

  /** The good definitions of every source, by name, for the last-known-good file. */
  saved(): Record<string, FlagDefinitions> {
    const out: Record<string, FlagDefinitions> = {};
    for (const s of this.sources) if (s.good) out[s.name] = s.good.definitions;
    return out;
  }

  /** Whether a source holds nothing: its key is absent, or its prefix has no keys. */
  isEmpty(index: number): boolean {
    const s = this.sources[index]!;
    const d =
      s.pending instanceof FlagDocumentError ? undefined : (s.pending ?? s.good?.definitions);
    return d !== undefined && Object.keys(d.keys).length === 0;
  }

  /**
   * Applies what sources received since the last update, once every source has been heard.
   * A source whose definitions fail (decoding, flagd's schema, or compiling against the merged
   * `$evaluators`) is refused whole and keeps its last good flags.
   */
  update(): FlagSetUpdate {
    const refused: FlagDocumentError[] = [];
    if (!this.complete) return { changed: [], refused };
    const taking = new Map<SourceState, FlagDefinitions>();
    for (const s of this.sources) {
      if (s.pending === undefined) continue;
      if (s.pending instanceof FlagDocumentError) this.refuse(s, s.pending, refused);
      else taking.set(s, s.pending);
      s.pending = undefined;
    }
    let compiled: Map<SourceState, Map<string, FeatureFlag>>;
    let evaluatorsText: string;
    // A source refused here takes its evaluators back out of the merge, so compile again.
    for (;;) {
      const evaluators: Record<string, unknown> = {};
      for (const s of this.sources)
        Object.assign(evaluators, (taking.get(s) ?? s.good?.definitions)?.evaluators);
      evaluatorsText = JSON.stringify(evaluators);
      const evaluatorsChanged = evaluatorsText !== this.evaluatorsText;
      compiled = new Map();
      let failed: FlagDocumentError | undefined;
      for (const s of this.sources) {
        const definitions = taking.get(s) ?? (evaluatorsChanged ? s.good?.definitions : undefined);
        if (!definitions) continue;
        try {
          compiled.set(s, s.compiler.compile(definitions, evaluators, evaluatorsText));
        } catch (error) {
          failed = error as FlagDocumentError;
          // Blame the source that changed: this one, or those whose evaluators moved.
          const culprits = taking.has(s)
            ? [s]
            : [...taking.keys()].filter(
                (t) =>
                  JSON.stringify(t.good?.definitions.evaluators ?? {}) !==
                  JSON.stringify(taking.get(t)!.evaluators),
              );
          for (const c of culprits) {
            taking.delete(c);
            this.refuse(c, failed, refused);
          }
          if (culprits.length === 0) throw error;
          break;
        }
      }
      if (!failed) break;
    }
    for (const [s, flags] of compiled) {
      const definitions = taking.get(s) ?? s.good!.definitions;
      s.good = { definitions, flags };
      if (taking.has(s)) s.reported = undefined;
    }
    this.evaluatorsText = evaluatorsText;
    return { changed: compiled.size > 0 ? this.install() : [], refused };
  }

  private refuse(s: SourceState, error: FlagDocumentError, refused: FlagDocumentError[]): void {
    if (s.reported === error.message) return;
    s.reported = error.message;
    refused.push(error);
  }

  /** Layers the sources' flags; the flags added, removed or changed. */
  private install(): string[] {
    const next = new Map<string, FeatureFlag>();
    const metadata: FlagMetadata = {};
    for (const s of this.sources) {
      if (!s.good) continue;
      for (const [name, flag] of s.good.flags) next.set(name, flag);
      Object.assign(metadata, s.good.definitions.metadata);
    }
    const changed: string[] = [];
    for (const [name, flag] of next) {
      const before = this.flags.get(name);
      if (before !== flag && before?.hash !== flag.hash) changed.push(name);
    }
    for (const name of this.flags.keys()) if (!next.has(name)) changed.push(name);
    this.flags = next;
    this.metadata = metadata;
    return changed;
  }

  getFlag(key: string): FeatureFlag | undefined {
    return this.flags.get(key);
  }

  getFlags(): Map<string, FeatureFlag> {
    return this.flags;
  }

  getFlagSetMetadata(): FlagMetadata {
    return this.metadata;
  }

  setConfigurations(): string[] {
    throw new Error(
      'ConsulFlagProvider reads its flags from Consul; put the flag document there instead',
    );
  }
}
