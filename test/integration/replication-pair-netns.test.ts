/**
 * repcached's one-host pair started with exactly repcached's command lines (no -l: every interface), in a
 * namespace host, with a second host on the lab network trying the shared replication port as a stranger.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin } from '../support/daemon.ts';
import { createLab, waitFor, type Lab } from '../support/netns.ts';
import { rootSkipReason } from '../support/root.ts';
import { helloFrame } from './replication-stranger.ts';

const escaped = (b: Buffer) => [...b].map((x) => `\\x${x.toString(16).padStart(2, '0')}`).join('');

describe.skipIf(rootSkipReason())("repcached's pair lines on one host, a stranger on another (namespaces)", () => {
  let lab: Lab;
  beforeAll(() => {
    lab = createLab('rp', ['a', 'b']);
  });
  afterAll(() => lab?.destroy());

  /** Sends `input` from a node's namespace to host:port and returns the reply (the connection ends after 1 s). */
  const send = (from: string, host: string, port: number, input: string) =>
    lab.exec(lab.nodes[from]!.ns, ['bash', '-c', `exec 3<>/dev/tcp/${host}/${port} || exit 1; printf '%b' "$0" >&3; timeout 1 cat <&3`, input], { allowFail: true });
  const stat = (port: number, name: string) => new RegExp(`STAT ${name} (\\S+)`).exec(send('a', '127.0.0.1', port, 'stats\\r\\nquit\\r\\n'))?.[1];

  it('`-p 11211 -X 11212` and `-p 11311 -x 127.0.0.1 -X 11212` pair; 198.18.0.2 gets nothing from 11212', async () => {
    const ns = lab.nodes.a!.ns;
    const start = (args: string[]) => lab.spawn(ns, [bin('repcache'), '-u', 'root', '-t', '1', ...args], { HAVED_LOG_JSON: '1' });
    const a = start(['-p', '11211', '-X', '11212']);
    await waitFor('node A serving', () => stat(11211, 'replication_state') === 'standalone', 15_000, 50);
    const b = start(['-p', '11311', '-x', '127.0.0.1', '-X', '11212']);
    await waitFor('the pair linked', () => stat(11311, 'repl_in_0_state') === 'streaming' && stat(11211, 'repl_in_0_state') === 'streaming', 15_000, 50);
    expect([stat(11211, 'repl_listen'), stat(11311, 'repl_listen')]).toEqual(['*:11212', '-']);

    expect(send('a', '127.0.0.1', 11211, 'set from-a 0 0 1\\r\\na\\r\\nquit\\r\\n')).toBe('STORED\r\n');
    expect(send('a', '127.0.0.1', 11311, 'set from-b 0 0 1\\r\\nb\\r\\nquit\\r\\n')).toBe('STORED\r\n');
    await waitFor('both keys on both', () => ['11211', '11311'].every((p) => send('a', '127.0.0.1', Number(p), 'get from-a from-b\\r\\nquit\\r\\n').split('VALUE').length === 3), 5000, 50);

    // The other host speaks the protocol to the shared port: the node has no -x, so only this host may.
    const addr = lab.nodes.a!.address;
    expect(send('b', addr, 11212, escaped(helloFrame('receiver')))).toBe('');
    expect(stat(11211, 'repl_refused_address')).toBe('1');
    // Its clients on the same host are served as ever (the client port listens everywhere, as asked).
    expect(send('b', addr, 11211, 'get from-b\\r\\nquit\\r\\n')).toBe('VALUE from-b 0 1\r\nb\r\nEND\r\n');
    expect(a.output() + b.output()).not.toMatch(/EADDRINUSE/);
  }, 60_000);
});
