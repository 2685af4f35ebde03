import type { ConsulWatchError } from './errors';

/**
 * Speaks for a client nobody listens to. Without a logger and without an `error` listener, a
 * watch that cannot reach Consul would fail in silence: the user sees no changes and no
 * reason. So: one line on stderr when a watch nobody hears starts failing, one when Consul
 * answers it again, never one per retry. Any logger (a silent one too) or `error` listener
 * takes this over.
 */
export class UnheardOutage {
  private told = false;

  constructor(
    private readonly enabled: boolean,
    private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  ) {}

  /** The error's message names the watch or config already. */
  failed(error: ConsulWatchError): void {
    if (!this.enabled || this.told) return;
    this.told = true;
    this.write(
      `consul-watch: ${error.message} (said here because no logger or 'error' listener is set)`,
    );
  }

  /** A warning nobody would hear otherwise, such as a config layer that reads as nothing. */
  notice(message: string): void {
    if (this.enabled) this.write(`consul-watch: ${message} (said here because no logger is set)`);
  }

  recovered(what: string, downMs: number): void {
    if (!this.enabled || !this.told) return;
    this.told = false;
    this.write(`consul-watch: ${what}: Consul answers again after ${(downMs / 1000).toFixed(1)} s`);
  }
}
