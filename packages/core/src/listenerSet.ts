/**
 * A set of listeners that hands out the same array to notify until the set changes, so a
 * change delivered to a watch copies nothing: a listener added or removed while others are
 * being called does not change the array those calls walk.
 */
export class ListenerSet<L> implements Iterable<L> {
  private readonly items = new Set<L>();
  private list: readonly L[] | undefined;

  get size(): number {
    return this.items.size;
  }

  add(listener: L): this {
    this.items.add(listener);
    this.list = undefined;
    return this;
  }

  delete(listener: L): boolean {
    this.list = undefined;
    return this.items.delete(listener);
  }

  has(listener: L): boolean {
    return this.items.has(listener);
  }

  clear(): void {
    this.items.clear();
    this.list = undefined;
  }

  /** The listeners now; later adds and deletes make a new array, never change this one. */
  snapshot(): readonly L[] {
    this.list ??= [...this.items];
    return this.list;
  }

  [Symbol.iterator](): Iterator<L> {
    return this.items[Symbol.iterator]();
  }
}
