/**
 * The one index counter of the server, standing in for Consul's Raft log index: every
 * write takes the next value, and a transaction takes one for all its operations.
 */
export class Raft {
  index = 0;

  next(): number {
    this.index += 1;
    return this.index;
  }
}
