import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './atomicFile';
import { type ConfigObject, isPlainObject } from './configTree';
import type { Logger } from './logger';

const VERSION = 1;

/**
 * The last-known-good file of a live config: every config from Consul is written there
 * (atomically, coalesced: a write in progress is followed by one of the latest config only),
 * and read back when Consul cannot be reached at start.
 */
export class LastKnownGoodFile {
  private saving: Promise<void> | undefined;
  private pending: ConfigObject | undefined;

  constructor(
    readonly file: string,
    private readonly logger: Logger,
  ) {}

  /** The saved config, or undefined (with one log line saying why) when there is none to use. */
  async load(): Promise<{ config: ConfigObject; savedAt: string } | undefined> {
    try {
      const saved = JSON.parse(await readFile(this.file, 'utf8'));
      if (saved?.version !== VERSION || !isPlainObject(saved.config))
        throw new Error('not a consul-watch last-known-good file');
      return { config: saved.config, savedAt: saved.savedAt };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.logger.warn(
        `Consul is unreachable and the last-known-good file ${this.file} ${code === 'ENOENT' ? 'does not exist yet' : `cannot be used (${(error as Error).message})`}; waiting for Consul`,
      );
      return undefined;
    }
  }

  save(config: ConfigObject): void {
    this.pending = config;
    if (this.saving) return;
    this.saving = (async () => {
      while (this.pending) {
        const next = this.pending;
        this.pending = undefined;
        try {
          await writeFileAtomic(
            this.file,
            JSON.stringify({ version: VERSION, savedAt: new Date().toISOString(), config: next }),
          );
        } catch (error) {
          this.logger.warn(
            `could not write the last-known-good file ${this.file}: ${(error as Error).message}`,
          );
        }
      }
    })().finally(() => {
      this.saving = undefined;
    });
  }

  /** Resolves once no write is in progress. */
  async flushed(): Promise<void> {
    await this.saving;
  }
}
