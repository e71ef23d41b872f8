/**
 * The request path's app lookup, kept in memory: every call of fal's API names an app and one of
 * its environments, and those change rarely. A write to either through this store (auth mode,
 * scaling, active revision, a deletion) empties the cache once it has committed, so this process
 * never answers from a record older than its own last change; a change made by another control
 * process sharing the database is seen within TTL_MS, as the pull gate's answer is.
 *
 * Owned by the root Store and shared with the stores of its transactions.
 */

/** How long an entry is trusted without a change in this process (elapsed time, not the store's clock). */
export const APP_LOOKUP_TTL_MS = 1000;
/** Entries kept at most; beyond it the cache starts again (names are bounded by the apps that exist). */
const MAX_ENTRIES = 10_000;

export class AppLookupCache<V> {
  private generation = 0;
  private readonly entries = new Map<string, { generation: number; at: number; value: V }>();

  /** Counts changes: a reader caches what it read only if this did not move meanwhile. */
  get version(): number {
    return this.generation;
  }

  /**
   * The cached value, or what `load` reads (kept when `keep` says so and nothing changed while it
   * was read). Each call gets its own copy, so a caller changing it changes nothing here.
   */
  async read(
    key: string,
    load: () => Promise<V | undefined>,
    keep: (v: V) => boolean,
  ): Promise<V | undefined> {
    const hit = this.entries.get(key);
    if (hit && hit.generation === this.generation && performance.now() - hit.at < APP_LOOKUP_TTL_MS) {
      return structuredClone(hit.value);
    }
    const before = this.generation;
    const value = await load();
    if (value !== undefined && keep(value) && before === this.generation) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(key, { generation: before, at: performance.now(), value: structuredClone(value) });
    }
    return value;
  }

  /** An app or environment was written (and committed): nothing cached before counts any more. */
  changed(): void {
    this.generation++;
    this.entries.clear();
  }
}
