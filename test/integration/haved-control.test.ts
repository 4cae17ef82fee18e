import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, type Daemon } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { rootSkipReason } from '../support/root.ts';
import { createLab, type Lab, type LabNode } from '../support/netns.ts';
import { isRunning, waitFor } from '../support/wait.ts';
import { Scratch, VIP, havedConf, type NodeConf } from './haved-lab.ts';

/** The control socket against two real haved nodes in namespaces: every verb, its refusals, and strangers. */
const skip = rootSkipReason();

describe.skipIf(skip)('haved control socket (namespaces)', () => {
  let lab: Lab;
  let scratch: Scratch;
  let a: LabNode, b: LabNode, c: LabNode;
  let udpPort: number;
  const haved: Record<string, Daemon> = {};

  const state = (n: LabNode) => scratch.path(`state-${n.name}.json`);
  const sock = (n: LabNode) => scratch.path(`state-${n.name}.sock`);
  const conf = (n: LabNode, o: Partial<NodeConf> = {}) => scratch.write(`${n.name}.conf`, havedConf({ node: n, priority: 100, advertInt: '0.1', udpPort, check: null, ...o }));
  const start = (n: LabNode, args: string[] = []) =>
    (haved[n.name] = lab.spawn(n.ns, [bin('haved'), '-f', scratch.path(`${n.name}.conf`), '--state-file', state(n), ...args], { HAVED_LOG_JSON: '1' }));
  const cli = (...args: string[]) => {
    const r = spawnSync(bin('haved'), args, { encoding: 'utf8', timeout: 70_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const ctl = (n: LabNode, ...args: string[]) => cli(...args, '--state-file', state(n));
  const vipOn = (n: LabNode) => lab.addresses(n.name).includes(VIP);
  const onlyOn = (n: LabNode, other: LabNode) => () => vipOn(n) && !vipOn(other);
  const instance = (n: LabNode) => JSON.parse(ctl(n, 'status', '--json').out).instances[0];
  const out = (n: LabNode) => haved[n.name]?.output() ?? '';

  beforeAll(async () => {
    udpPort = await freePort();
    scratch = new Scratch();
    chmodSync(scratch.dir, 0o755); // so that only the socket's own mode keeps other users out
    lab = createLab('hc', ['a', 'b', 'c']);
    ({ a, b, c } = lab.nodes as Record<string, LabNode>);
    conf(a, { priority: 150 });
    conf(b, { priority: 100 });
    start(a);
    await waitFor(`VIP on a\n${out(a)}`, () => vipOn(a), 10_000);
    start(b);
    await waitFor(`b BACKUP\n${out(b)}`, () => existsSync(sock(b)) && ctl(b, 'status').out.includes('VI_1: BACKUP'), 10_000);
  });

  afterAll(async () => {
    await Promise.all(Object.values(haved).map((d) => d.stop('SIGKILL')));
    lab?.destroy();
    scratch?.remove();
  });

  it('status answers over the socket (0600, owned by the daemon\'s user)', () => {
    const st = lstatSync(sock(a));
    expect(st.isSocket()).toBe(true);
    expect([st.mode & 0o777, st.uid]).toEqual([0o600, 0]);
    const r = ctl(a, 'status');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/instance VI_1: MASTER\s+priority 150/);
    expect(r.out).toContain(`${VIP}/32 dev hc0`);
  });

  it('another user gets a clear permission error, not a status', () => {
    const asNobody = (...args: string[]) =>
      spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all', bin('haved'), ...args], { encoding: 'utf8', timeout: 15_000 });
    if (asNobody('-v').status !== 0) {
      // The checkout is not readable by other users here: check the socket's mode directly instead.
      expect(lstatSync(sock(a)).mode & 0o077).toBe(0);
      return;
    }
    const r = asNobody('status', '--state-file', state(a));
    expect(r.status).toBe(4);
    expect(r.stderr.trim()).toBe(
      `haved: permission denied on ${sock(a)}: the control socket is only for root, the user haved runs as (try: sudo haved status --state-file ${state(a)})`,
    );
    expect(r.stdout).toBe('');
  });

  it('garbage and a huge line get an error reply and do not disturb the daemon', async () => {
    const raw = (bytes: Buffer | string) =>
      new Promise<string>((resolve, reject) => {
        const s = connect(sock(a));
        let got = '';
        s.on('data', (d) => (got += d));
        s.on('error', reject);
        s.on('close', () => resolve(got));
        s.on('connect', () => s.write(bytes));
      });
    expect(JSON.parse(await raw(Buffer.from('\x00\xff\xfe garbage \n', 'latin1')))).toEqual({ ok: false, error: 'bad request: not a JSON object' });
    expect(JSON.parse(await raw(Buffer.alloc(8 << 20, 0x41)))).toEqual({ ok: false, error: 'request too long (more than 4096 bytes)' });
    const flood = await Promise.all(Array.from({ length: 50 }, () => raw('{"verb":"nope"}\n')));
    expect(flood.every((r) => r.includes('"ok":false'))).toBe(true);
    expect(instance(a).state).toBe('MASTER');
    expect(vipOn(a)).toBe(true);
    // one line for the bad requests (rate limited), the strangers' bytes quoted, never raw
    expect(out(a).match(/control socket: bad request/g)?.length).toBe(1);
    expect(out(a)).not.toContain('\u0000');
  });

  it('maintenance on hands the VIP over at once (priority 0 naming the peer); off rejoins and preempts', async () => {
    const r = ctl(a, 'maintenance', 'on');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('maintenance on: a MASTER hands its VIPs to its peer');
    const ms = await waitFor(`VIP on b\n${out(a)}`, onlyOn(b, a), 3000, 5);
    expect(ms).toBeLessThan(1000); // the named successor does not wait for the master-down interval
    await new Promise((res) => setTimeout(res, 600)); // several master-down intervals: a claims nothing
    expect(onlyOn(b, a)()).toBe(true);
    expect(instance(a)).toMatchObject({ state: 'FAULT', faults: [expect.stringMatching(/^maintenance: maintenance mode since/)] });
    expect(ctl(a, 'status').out).toMatch(/^MAINTENANCE since .*: no instance claims a VIP/m);
    expect(ctl(a, 'maintenance', 'on').out).toContain('maintenance was already on');
    expect(ctl(a, 'maintenance', 'off').code).toBe(0);
    await waitFor('VIP back on a (priority 150 preempts 100)', onlyOn(a, b), 5000);
  });

  it('priority N makes a lower priority node take over; reset gives the VIP back', async () => {
    const r = ctl(a, 'priority', 'VI_1', '50');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe("VI_1: priority 50 instead of 150 (effective 50, MASTER) until 'haved priority VI_1 reset' or a restart\n");
    await waitFor('b to take over from a at priority 50', onlyOn(b, a), 5000);
    expect(ctl(a, 'status').out).toMatch(/instance VI_1: BACKUP\s+priority 50 \(override 50, configured 150\)/);
    expect(ctl(a, 'priority', 'VI_1', 'reset').out).toBe('VI_1: back to its configured priority 150 (effective 150, BACKUP)\n');
    await waitFor('a back as MASTER', onlyOn(a, b), 5000);
    const bad = ctl(a, 'priority', 'VI_9', '10');
    expect([bad.code, bad.err]).toEqual([1, "haved: no vrrp_instance 'VI_9' (instances: VI_1)\n"]);
  });

  it('reload: a broken file is refused with every error and the running config stays; a good one reloads', () => {
    const good = readFileSync(scratch.path('a.conf'), 'utf8');
    writeFileSync(scratch.path('a.conf'), good.replace('priority 150', 'prority 150').replace('virtual_router_id 51', 'virtual_router_id 300'));
    const r = ctl(a, 'reload');
    expect(r.code).toBe(1);
    expect(r.err.split('\n')).toEqual([
      `haved: ${scratch.path('a.conf')}:10: virtual_router_id must be an integer 1..255, got "300"`,
      `haved: ${scratch.path('a.conf')}:11: unknown keyword 'prority' in vrrp_instance (did you mean 'priority'?)`,
      'haved: reload refused: the running configuration is kept',
      '',
    ]);
    expect(instance(a)).toMatchObject({ state: 'MASTER', priority: 150 });
    writeFileSync(scratch.path('a.conf'), good);
    const ok = ctl(a, 'reload');
    expect([ok.code, ok.out]).toEqual([0, 'configuration reloaded: kept VI_1; updated -; started -; stopped -\n']);
    expect(onlyOn(a, b)()).toBe(true);
  });

  it('dump prints the SIGUSR1 JSON and writes the state file', () => {
    const r = ctl(a, 'dump');
    expect(r.code, r.err).toBe(0);
    const dumped = JSON.parse(r.out);
    expect(dumped).toMatchObject({ pid: expect.any(Number), pidStartTime: expect.stringMatching(/^\d+$/), instances: [{ name: 'VI_1', state: 'MASTER' }] });
    expect(r.err).toBe(`(also written to ${state(a)})\n`);
    expect(JSON.parse(readFileSync(state(a), 'utf8')).pid).toBe(dumped.pid);
  });

  it('a second haved on the same state file (so the same socket) refuses to start and touches nothing', async () => {
    conf(c, { priority: 200, vrid: 51 });
    const d = lab.spawn(c.ns, [bin('haved'), '-f', scratch.path('c.conf'), '--state-file', state(a)], { HAVED_LOG_JSON: '1' });
    expect(await d.exited).toBe(1);
    expect(d.output()).toContain(`haved: another haved answers on ${sock(a)} (pid ${instanceDaemonPid()}): stop it, or give this one its own --state-file or --socket`);
    expect(onlyOn(a, b)()).toBe(true);
    expect(ctl(a, 'status').code).toBe(0);
  });

  const instanceDaemonPid = () => JSON.parse(ctl(a, 'status', '--json').out).pid as number;

  it('without a socket of its own, status reads the state file and signals only a verified haved', async () => {
    // c runs without a control socket (it cannot create one there)
    scratch.write('c.conf', havedConf({ node: c, priority: 50, advertInt: '0.1', udpPort, check: null, vrid: 61 }).replaceAll(VIP, '198.18.0.101'));
    const noSock = '/proc/haved-no-such-dir/c.sock';
    const d = (haved.c = lab.spawn(c.ns, [bin('haved'), '-f', scratch.path('c.conf'), '--state-file', state(c), '--socket', noSock], { HAVED_LOG_JSON: '1' }));
    await waitFor(`c running without a socket\n${d.output()}`, () => d.output().includes('"msg":"haved started"'), 10_000);
    expect(d.output()).toContain("'haved status' reads the state file instead");
    const r = cli('status', '--state-file', state(c), '--socket', noSock);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/instance VI_1: (BACKUP|MASTER)/);
    expect(r.err).toContain(`(no control socket answers: this is ${state(c)})`);
    await waitFor('SIGUSR1 logged', () => d.output().includes('SIGUSR1: state written'), 2000);

    // a state file naming a pid that is not haved any more: nothing is signalled
    const victim = spawn('sleep', ['30']);
    try {
      const fake = scratch.write('fake.json', JSON.stringify({ ...JSON.parse(readFileSync(state(c), 'utf8')), pid: victim.pid }));
      const stale = cli('status', '--state-file', fake);
      expect(stale.code).toBe(3);
      expect(stale.err).toBe(
        `haved is not running (nothing answers on ${scratch.path('fake.sock')})\n  ${fake} names pid ${victim.pid}, which is not the haved that wrote it (the file was left by a daemon that did not stop cleanly)\n`,
      );
      await new Promise((res) => setTimeout(res, 200));
      expect(isRunning(victim.pid!)).toBe(true); // SIGUSR1's default action would have killed it
      // the right pid but another start time (the pid was reused): not signalled either
      const before = d.output().split('SIGUSR1: state written').length;
      const reused = scratch.write('reused.json', JSON.stringify({ ...JSON.parse(readFileSync(state(c), 'utf8')), pidStartTime: '1' }));
      expect(cli('status', '--state-file', reused).code).toBe(3);
      await new Promise((res) => setTimeout(res, 200));
      expect(d.output().split('SIGUSR1: state written').length).toBe(before);
    } finally {
      victim.kill('SIGKILL');
    }
    await d.stop('SIGTERM', 5000);
  });

  it('a clean stop removes the state file and the socket; status then says it is not running', async () => {
    await haved.b!.stop('SIGTERM', 5000);
    expect(await haved.b!.exited).toBe(0);
    expect([existsSync(state(b)), existsSync(sock(b))]).toEqual([false, false]);
    const r = ctl(b, 'status');
    expect([r.code, r.err]).toEqual([3, `haved is not running (nothing answers on ${sock(b)})\n`]);
    expect(ctl(b, 'reload').code).toBe(3);
  });
});
