import { connect, type Socket } from 'node:net';

/** A connection to the cache port behind the VIP, or null when it cannot be made within timeoutMs. */
export function openCache(host: string, timeoutMs: number, port = 11211): Promise<Socket | null> {
  return new Promise((res) => {
    const s = connect({ host, port, noDelay: true });
    const t = setTimeout(() => { s.destroy(); res(null); }, timeoutMs);
    s.once('connect', () => { clearTimeout(t); res(s); });
    s.once('error', () => { clearTimeout(t); res(null); });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
