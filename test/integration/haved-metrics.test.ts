/**
 * haved's Prometheus endpoint (global_defs { metrics_listen }) on a real pair in namespaces: the scraped
 * state follows an election, a forged advert and a failed cache check, and strangers' requests are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../support/daemon.ts';
import { parseExposition } from '../support/exposition.ts';
import { freePort } from '../support/ports.ts';
import { rootSkipReason } from '../support/root.ts';
import { createLab, type Lab, type LabNode } from '../support/netns.ts';
import { waitFor } from '../support/wait.ts';
import { Scratch, VIP, havedConf, startHaved, startMemcached, type NodeConf } from './haved-lab.ts';

const skip = rootSkipReason();
const FAST_CHECK = { delayLoop: '0.1', connectTimeout: '0.2', retry: 1, delayBeforeRetry: '0.1' };
const METRICS = '127.0.0.1:9650';

describe.skipIf(skip)('haved metrics endpoint (namespaces)', () => {
  let lab: Lab;
  let scratch: Scratch;
  let a: LabNode, b: LabNode;
  let udpPort: number;
  const haved: Record<string, Daemon> = {};
  const memcached: Record<string, Daemon> = {};
  let notify: ReturnType<Scratch['notifyScript']>;

  const conf = (n: LabNode, o: Partial<NodeConf>, metrics: boolean, file = `${n.name}.conf`) =>
    scratch.write(
      file,
      havedConf({ node: n, priority: 100, advertInt: '0.1', udpPort, check: FAST_CHECK, ...o }).replace(
        'global_defs {\n',
        metrics ? `global_defs {\n    metrics_listen ${METRICS}\n` : 'global_defs {\n',
      ),
    );
  const vipOn = (n: LabNode) => lab.addresses(n.name).includes(VIP);
  const out = (n: LabNode) => haved[n.name]?.output() ?? '';
  /** An HTTP request from inside the node's namespace (the endpoint listens on its loopback). */
  const http = (n: LabNode, path: string, method = 'GET'): { status: number; body: string } => {
    const js = `fetch('http://${METRICS}${path}',{method:'${method}'}).then(async r=>process.stdout.write(JSON.stringify({status:r.status,body:await r.text()})),e=>process.stdout.write(JSON.stringify({status:0,body:String(e)})))`;
    return JSON.parse(lab.exec(n.ns, [process.execPath, '-e', js], { timeoutMs: 10_000 }));
  };
  const scrape = (n: LabNode) => {
    const r = http(n, '/metrics');
    expect(r.status, r.body).toBe(200);
    return parseExposition(r.body);
  };
  const I = 'instance="VI_1"';

  beforeAll(async () => {
    udpPort = await freePort();
    scratch = new Scratch();
    lab = createLab('hm', ['a', 'b']);
    ({ a, b } = lab.nodes as Record<string, LabNode>);
    notify = scratch.notifyScript('notify-a');
    for (const n of [a, b]) memcached[n.name] = startMemcached(lab, n);
    haved.a = startHaved(lab, a, conf(a, { priority: 150, notifyScript: notify.script }, true), scratch.path('state-a.json'));
    await waitFor(`VIP on a\n${out(a)}`, () => vipOn(a), 10_000);
    haved.b = startHaved(lab, b, conf(b, { priority: 100 }, false), scratch.path('state-b.json'));
    await waitFor(`a's notify_master\n${out(a)}`, () => notify.lines().some((l) => l.includes('MASTER')), 10_000);
  });

  afterAll(async () => {
    await Promise.all([...Object.values(haved), ...Object.values(memcached)].map((d) => d.stop('SIGKILL')));
    lab?.destroy();
    scratch?.remove();
  });

  it('reports the MASTER, its priority, transitions, adverts, its cache check and its notify scripts', async () => {
    await waitFor('b heard', () => (scrape(a).get(`haved_vrrp_adverts_sent_total{${I}}`) ?? 0) > 5, 5000);
    const v = scrape(a);
    expect(v.get(`haved_vrrp_state{${I},state="MASTER"}`)).toBe(1);
    expect(v.get(`haved_vrrp_state{${I},state="BACKUP"}`)).toBe(0);
    expect(v.get(`haved_vrrp_priority{${I}}`)).toBe(150);
    expect(v.get(`haved_vrrp_vips_installed{${I}}`)).toBe(1);
    expect(v.get(`haved_vrrp_transitions_total{${I},to="MASTER"}`)).toBe(1);
    expect(v.get(`haved_vrrp_transitions_total{${I},to="BACKUP"}`)).toBe(1);
    // the MEMCACHE_CHECK on a's own memcached probes every 0.1 s (interfaces are tracked checks too)
    const check = [...v.keys()].find((k) => k.startsWith('haved_check_results_total{') && k.includes('kind="check"') && k.includes('result="ok"'))!;
    expect(check).toContain(`check="MEMCACHE_CHECK ${a.address}:11211"`);
    expect(v.get(check)).toBeGreaterThan(0);
    const labels = check.slice(check.indexOf('{'), check.indexOf(',result='));
    expect(v.get(`haved_check_duration_seconds_count${labels}}`)).toBeGreaterThan(0);
    expect(v.get(`haved_check_duration_seconds_bucket${labels},le="+Inf"}`)).toBe(v.get(`haved_check_duration_seconds_count${labels}}`));
    expect(v.get(`haved_check_state${labels},state="UP"}`)).toBe(1);
    expect(v.get('haved_notify_scripts_total{scope="instance",name="VI_1",outcome="ok"}')).toBeGreaterThanOrEqual(3);
    expect(v.get('haved_notify_scripts_total{scope="instance",name="VI_1",outcome="failed"}')).toBe(0);
  });

  it('counts a forged advert by reason', async () => {
    const before = scrape(a);
    const rejected = (v: Map<string, number>) => [...v].filter(([k]) => k.startsWith(`haved_vrrp_adverts_rejected_total{${I}`)).reduce((s, [, n]) => s + n, 0);
    // 40 bytes of garbage with the VRID where the router looks for it, from b's address
    const js = `const s=require('node:dgram').createSocket('udp4');const b=Buffer.alloc(40,0x41);b[4]=51;s.send(b,${udpPort},'${a.address}',()=>s.close())`;
    lab.exec(b.ns, [process.execPath, '-e', js]);
    await waitFor('the forged advert counted', () => rejected(scrape(a)) === rejected(before) + 1, 5000);
    expect(scrape(a).get(`haved_vrrp_adverts_rejected_total{${I},reason="BAD_MAGIC"}`)).toBe((before.get(`haved_vrrp_adverts_rejected_total{${I},reason="BAD_MAGIC"}`) ?? 0) + 1);
  });

  it('answers only GET /metrics: other paths 404, other methods 405; the daemon keeps running', () => {
    expect(http(a, '/').status).toBe(404);
    expect(http(a, '/metrics/../etc/passwd').status).toBe(404);
    expect(http(a, '/metrics', 'POST').status).toBe(405);
    expect(http(a, '/metrics', 'DELETE').status).toBe(405);
    expect(vipOn(a)).toBe(true);
  });

  it('a metrics port that is taken stops the start with a clear error, before any address is touched', async () => {
    const second = startHaved(lab, a, conf(a, { priority: 200, vrid: 52 }, true, 'a2.conf'), scratch.path('state-a2.json'));
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain(`haved: cannot listen for metrics on ${METRICS}: EADDRINUSE`);
    expect(vipOn(a)).toBe(true);
  });

  it('follows a failed cache check into FAULT', async () => {
    await memcached.a!.stop('SIGKILL');
    await waitFor(`b takes the VIP\n${out(a)}`, () => vipOn(b) && !vipOn(a), 10_000);
    const v = scrape(a);
    expect(v.get(`haved_vrrp_state{${I},state="FAULT"}`)).toBe(1);
    expect(v.get(`haved_vrrp_transitions_total{${I},to="FAULT"}`)).toBe(1);
    expect(v.get(`haved_vrrp_vips_installed{${I}}`)).toBe(0);
    expect(v.get(`haved_vrrp_faults{${I}}`)).toBeGreaterThanOrEqual(1);
    const down = [...v].find(([k]) => k.startsWith('haved_check_state{') && k.includes('kind="check"') && k.includes('state="DOWN"'));
    expect(down?.[1]).toBe(1);
    const fails = [...v].filter(([k]) => k.startsWith('haved_check_results_total{') && k.includes('kind="check"') && !k.includes('result="ok"')).reduce((s, [, n]) => s + n, 0);
    expect(fails).toBeGreaterThanOrEqual(2);
  });
});
