import type { CacheDaemon } from '../../config/model.ts';
import { SupervisedDaemon, type FaultTarget, type SupervisedDaemonDeps } from './supervised-daemon.ts';

/** The fault source the proxy's exit sets on the instances. */
export const PROXY_FAULT = 'proxy';

export type ProxyLinkDeps = SupervisedDaemonDeps;

/**
 * haved's side of the `proxy_daemon` block: runs repcache-proxy under a ProcessSupervisor on every node, and
 * while it is not running (starting, exited, backing off) every vrrp_instance of this host is in FAULT, so the
 * VIP goes at once to a node whose proxy runs - the proxy follows the VIP's users without a script polling ps.
 * The proxy needs no warm-up (its backends hold the data), so there is no warmth gate.
 */
export class ProxyLink {
  readonly config: CacheDaemon;
  readonly #daemon: SupervisedDaemon;

  constructor(config: CacheDaemon, deps: ProxyLinkDeps) {
    this.config = config;
    this.#daemon = new SupervisedDaemon(config, deps, { fault: PROXY_FAULT, component: 'proxy', label: 'proxy daemon' });
  }

  /** The instances this proxy serves (replaces the previous set, e.g. after a reload). */
  bind(targets: FaultTarget[]): void {
    this.#daemon.bind(targets);
  }

  /** Clears what this link set on its instances (the block was removed by a reload). */
  unbind(): void {
    this.#daemon.unbind();
  }

  start(): void {
    this.#daemon.start();
  }

  /** Stops the proxy (SIGTERM, SIGKILL after stop_timeout). */
  stop(): Promise<void> {
    return this.#daemon.stop();
  }

  status() {
    return { ...this.#daemon.status(), port: this.config.checkPort };
  }
}
