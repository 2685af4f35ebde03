import { DecodeError } from '@consul-watch/core';

/**
 * A flag document in Consul that cannot be used: not JSON/YAML, not flagd's schema, a default
 * variant that is not among the variants, a `$ref` to an evaluator nobody defines. The last good
 * definitions of its whole source stay in force; `key` is the Consul key, `flag` the flag.
 */
export class FlagDocumentError extends DecodeError {
  constructor(
    message: string,
    key: string,
    /** The flag at fault, when one is. */
    readonly flag: string | undefined,
    /** The source (as given in `sources`) whose last good definitions stay in force. */
    readonly source: string,
    options?: { cause?: unknown },
  ) {
    super(message, key, options);
  }
}
