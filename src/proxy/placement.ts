import { createDistribution, type Distribution, type DistributionKind } from '../routing/distribution.ts';
import type { KeyHash } from '../routing/hashes.ts';
import { serverName, type ServerSpec } from '../routing/servers.ts';

/**
 * How the backup pool relates to the main pool:
 * - `copy` (magent): every write goes to the key's main server and to its backup server, which the backup pool's
 *   own ring picks (skipping the key's main server when the pools share servers);
 * - `pairs` (repcache pairs that replicate themselves): backup N is the replication peer of main N, writes go to
 *   the main only, and the backup serves the main's keys while the main is down.
 */
export type BackupMode = 'copy' | 'pairs';

export interface PlacementConfig {
  main: readonly ServerSpec[];
  backup: readonly ServerSpec[];
  distribution: DistributionKind;
  hash: KeyHash;
  backupMode: BackupMode;
}

export class PlacementError extends Error {
  override name = 'PlacementError';
}

/** A distinct server (host:port) and the pools it is in. */
export interface PlacedServer {
  name: string;
  spec: ServerSpec;
  main: boolean;
  backup: boolean;
}

/**
 * Where a key lives: its main server and its backup server, as indexes into `servers` (each host:port once,
 * even when it is in both pools). Pure.
 */
export class Placement {
  readonly servers: PlacedServer[] = [];
  readonly mode: BackupMode;
  readonly #main: Distribution;
  readonly #backup: Distribution | null;
  /** Pool position -> index in `servers`. */
  readonly #mainIndex: number[];
  readonly #backupIndex: number[];
  /** For each server: its position in the backup pool, or -1. */
  readonly #backupPosOf: number[];

  constructor(c: PlacementConfig) {
    if (c.main.length === 0) throw new PlacementError('no main server (-s host:port)');
    if (c.backupMode === 'pairs' && c.backup.length > 0 && c.backup.length !== c.main.length) {
      throw new PlacementError(`--no-backup-writes pairs each -b with the -s at the same position: ${c.main.length} -s but ${c.backup.length} -b`);
    }
    this.mode = c.backupMode;
    const byName = new Map<string, number>();
    const add = (spec: ServerSpec, pool: 'main' | 'backup'): number => {
      const name = serverName(spec);
      let i = byName.get(name);
      if (i === undefined) {
        i = this.servers.length;
        byName.set(name, i);
        this.servers.push({ name, spec, main: false, backup: false });
      } else if (this.servers[i]![pool]) {
        throw new PlacementError(`${name} is given twice as ${pool === 'main' ? '-s' : '-b'}`);
      }
      this.servers[i]![pool] = true;
      return i;
    };
    this.#mainIndex = c.main.map((s) => add(s, 'main'));
    this.#backupIndex = c.backup.map((s) => add(s, 'backup'));
    if (c.backupMode === 'pairs') {
      c.main.forEach((_, p) => {
        if (this.#backupIndex[p] === this.#mainIndex[p]) throw new PlacementError(`${this.servers[this.#mainIndex[p]!]!.name} cannot be its own backup`);
      });
    }
    this.#backupPosOf = this.servers.map(() => -1);
    this.#backupIndex.forEach((server, pos) => (this.#backupPosOf[server] = pos));
    this.#main = createDistribution(c.distribution, c.main, c.hash);
    this.#backup = c.backup.length > 0 && c.backupMode === 'copy' ? createDistribution(c.distribution, c.backup, c.hash) : null;
  }

  get hasBackups(): boolean {
    return this.#backupIndex.length > 0;
  }

  /** The key's hash (one per key, whatever the pools). */
  hash(key: Uint8Array): number {
    return this.#main.hash(key);
  }

  /** The main server of the key with this hash. */
  mainOf(h: number): number {
    return this.#mainIndex[this.#main.serverForHash(h)]!;
  }

  /** The backup server of the key with this hash and main server (mainOf(h)); -1 when it has none. */
  backupOf(h: number, main: number): number {
    if (this.#backupIndex.length === 0) return -1;
    if (this.mode === 'pairs') return this.#backupIndex[this.#main.serverForHash(h)]!;
    const d = this.#backup!;
    const skip = this.#backupPosOf[main]!;
    const pos = skip < 0 ? d.serverForHash(h) : d.serverForHashExcept(h, skip);
    return pos < 0 ? -1 : this.#backupIndex[pos]!;
  }
}
