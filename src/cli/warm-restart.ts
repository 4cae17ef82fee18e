import * as fs from 'node:fs';
import type { SlabStore } from '../cache/store.ts';
import { loadWarmFile, saveWarmFile, type WarmSettings } from '../cache/warm-file.ts';
import type { Logger } from '../log.ts';

/**
 * repcache's -e: loads the memory file at start (before any port opens) and saves it on SIGUSR1 (after the client
 * ports are closed). A replicated node (-x or -X) neither loads nor saves one: its data comes from its peers, and a
 * file from before it went down could bring back items its peers deleted since (README, "Warm restart").
 */
export class WarmRestart {
  readonly #file: string;
  readonly #store: SlabStore;
  readonly #settings: WarmSettings;
  readonly #replicated: boolean;
  readonly #log: Logger;
  #saved = false;

  constructor(file: string, store: SlabStore, settings: WarmSettings, replicated: boolean, log: Logger) {
    this.#file = file;
    this.#store = store;
    this.#settings = settings;
    this.#replicated = replicated;
    this.#log = log;
  }

  /** Loads the file into the (empty) store; a file that cannot be loaded is logged and the start is cold. */
  load(): void {
    const file = this.#file;
    if (this.#replicated) {
      if (fs.existsSync(file)) {
        fs.rmSync(file, { force: true });
        this.#log.warn({ file }, 'warm restart: memory file removed unread: a replicated node takes its data from its peers');
      }
      return;
    }
    const started = performance.now();
    let r: ReturnType<typeof loadWarmFile>;
    try {
      r = loadWarmFile(this.#store, this.#settings, file);
    } catch (err) {
      this.#log.warn({ file, err: (err as Error).message }, 'warm restart: cannot read the memory file, starting with a clean cache');
      return;
    }
    const ms = Math.round(performance.now() - started);
    if (r.outcome === 'absent') this.#log.info({ file }, 'warm restart: no memory file, starting with a clean cache');
    else if (r.outcome === 'refused') {
      this.#log.warn({ file, reason: r.error.name, movedTo: r.movedTo }, `warm restart: memory file refused (${r.error.message}), starting with a clean cache`);
    } else {
      const downSeconds = r.savedAt > 0 ? Math.max(0, Math.floor(Date.now() / 1000) - r.savedAt) : null;
      this.#log.info({ file, items: r.items, expired: r.expired, dropped: r.dropped, bytes: r.bytes, ms, downSeconds }, `warm restart: ${r.items} items loaded`);
    }
  }

  /**
   * Whether the file can be written as this process runs now (after -u): memcached, which opens its file at start,
   * does not start otherwise. Returns the reason it cannot, or null.
   */
  unwritable(): string | null {
    if (this.#replicated) return null;
    const probe = `${this.#file}.tmp`;
    try {
      fs.closeSync(fs.openSync(probe, 'w', 0o600));
      fs.rmSync(probe, { force: true });
      return null;
    } catch (err) {
      return `cannot write the memory file ${probe}: ${(err as Error).message}`;
    }
  }

  /** Saves the store (once); errors are logged, the stop goes on. Called after the client ports are closed. */
  save(): void {
    if (this.#saved) return;
    this.#saved = true;
    if (this.#replicated) {
      this.#log.info({ file: this.#file }, 'warm restart: a replicated node saves no memory file');
      return;
    }
    const started = performance.now();
    try {
      const r = saveWarmFile(this.#store, this.#settings, this.#file);
      this.#log.info({ file: this.#file, items: r.items, bytes: r.bytes, ms: Math.round(performance.now() - started) }, `warm restart: ${r.items} items saved`);
    } catch (err) {
      this.#log.error({ file: this.#file, err: (err as Error).message }, 'warm restart: cannot save the memory file');
    }
  }
}
