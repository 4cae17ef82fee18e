/** Longest wait, in seconds, after crawler steps that found nothing expired. */
export const MAX_CRAWL_INTERVAL = 60;

/**
 * When the background crawler next looks for expired items (times in clock seconds). Every second while
 * its steps find some; after a step that finds none, twice as long as before, up to MAX_CRAWL_INTERVAL.
 * A cache whose items are not expiring is then not walked every second, which costs a cache miss per
 * item and evicts the hot items from the CPU cache (memcached's crawler backs off the same way). Expired
 * items are still dropped on access and before evicting live ones, so waiting longer loses nothing.
 */
export class CrawlSchedule {
  #interval = 1;
  #next = 0;

  due(now: number): boolean {
    return now >= this.#next;
  }

  /** A crawler step ran at `now` and reclaimed `reclaimed` items. */
  ran(now: number, reclaimed: number): void {
    this.#interval = reclaimed > 0 ? 1 : Math.min(this.#interval * 2, MAX_CRAWL_INTERVAL);
    this.#next = now + this.#interval;
  }
}
