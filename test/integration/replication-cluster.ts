/** Helpers for replication tests with real repcache processes on loopback. */
import { connect } from 'node:net';
import { bin, startProcess, waitForPort, type Daemon } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { threadArgs } from './repcache-harness.ts';

export interface RepNode {
  port: number;
  rport: number;
  daemon: Daemon;
  args: string[];
}

const asRoot = process.getuid?.() === 0 ? ['-u', 'root'] : [];

/**
 * Starts repcache with replication; resolves once the client port is open (copy complete). REPCACHE_TEST_THREADS=N
 * starts it with -t N, and its absence with -t 1, unless `extra` names -t (threadArgs).
 */
export async function startNode(opts: { port?: number; rport?: number; peers?: number[]; extra?: string[]; waitMs?: number } = {}): Promise<RepNode> {
  const port = opts.port ?? (await freePort());
  const rport = opts.rport ?? (await freePort());
  const args = ['-l', '127.0.0.1', '-p', String(port), '-X', String(rport), '-o', 'repl_listen=127.0.0.1', ...asRoot, ...threadArgs(opts.extra ?? []), ...(opts.extra ?? [])];
  for (const p of opts.peers ?? []) args.push('-x', `127.0.0.1:${p}`);
  const daemon = startProcess(bin('repcache'), args, { env: { HAVED_LOG_JSON: '1' } });
  await waitForPort(port, '127.0.0.1', opts.waitMs ?? 20_000, daemon);
  return { port, rport, daemon, args };
}

/** Sends raw protocol text, resolves with the reply once it ends with `until`. */
export function mc(port: number, data: string | Buffer, until: RegExp = /\r\n$/, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    let got = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no complete reply from ${port} to ${JSON.stringify(String(data).slice(0, 60))}; got ${JSON.stringify(got)}`));
    }, timeoutMs);
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (until.test(got)) {
        clearTimeout(t);
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.write(data);
  });
}

export const get = async (port: number, key: string): Promise<string | null> => {
  const r = await mc(port, `get ${key}\r\n`, /END\r\n$/);
  const m = /^VALUE \S+ \d+ \d+\r\n([\s\S]*?)\r\nEND\r\n$/.exec(r);
  return m ? m[1] : null;
};

export const gets = async (port: number, key: string): Promise<{ value: string; cas: string } | null> => {
  const r = await mc(port, `gets ${key}\r\n`, /END\r\n$/);
  const m = /^VALUE \S+ \d+ \d+ (\d+)\r\n([\s\S]*?)\r\nEND\r\n$/.exec(r);
  return m ? { value: m[2], cas: m[1] } : null;
};

export const set = (port: number, key: string, value: string, exptime = 0): Promise<string> => mc(port, `set ${key} 0 ${exptime} ${Buffer.byteLength(value)}\r\n${value}\r\n`);

export async function stats(port: number): Promise<Record<string, string>> {
  const r = await mc(port, 'stats\r\n', /END\r\n$/);
  const out: Record<string, string> = {};
  for (const line of r.split('\r\n')) {
    const m = /^STAT (\S+) (.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** Polls until cond() holds; bounded. */
export async function eventually(cond: () => Promise<boolean> | boolean, what: string, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
