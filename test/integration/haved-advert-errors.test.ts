/**
 * A link that fails every advert (a partition, a firewall, no route) is logged once a minute per kind of error,
 * with the count, not once per advert (the chaos run's partitions wrote a line every advert interval).
 */
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { bin, startProcess, stopAll } from '../support/daemon.ts';
import { rootSkipReason } from '../support/root.ts';
import { Scratch } from './haved-lab.ts';

const skip = rootSkipReason();
const ns = `hae${process.pid}`;

describe.skipIf(skip)('haved: advert send errors', () => {
  const scratch = new Scratch();
  afterAll(async () => {
    await stopAll();
    spawnSync('ip', ['netns', 'del', ns]);
    scratch.remove();
  });

  it('an unreachable unicast peer: one line, not one per advert', async () => {
    spawnSync('ip', ['netns', 'add', ns]);
    spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    spawnSync('ip', ['-n', ns, 'addr', 'add', '198.18.0.1/32', 'dev', 'lo']);
    const conf = scratch.write('haved.conf', `global_defs {
    router_id errors
    vrrp_udp_port 11210
}
vrrp_instance VI_1 {
    state BACKUP
    interface lo
    virtual_router_id 51
    priority 200
    advert_int 0.1
    unicast_src_ip 198.18.0.1
    unicast_peer {
        198.18.9.9
    }
    virtual_ipaddress {
        198.18.0.100/32 dev lo
    }
}
`);
    const haved = startProcess('ip', ['netns', 'exec', ns, bin('haved'), '-f', conf, '--state-file', scratch.path('state.json')], { env: { HAVED_LOG_JSON: '1' } });
    const deadline = Date.now() + 15_000;
    while (!/"BACKUP -> MASTER/.test(haved.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 2500)); // about 25 adverts, each failing
    const lines = haved.output().split('\n').filter((l) => l.includes('advert socket error'));
    console.log(`unreachable unicast peer, 2.5 s at advert_int 0.1: ${lines.length} log line(s): ${lines[0]?.slice(0, 200)}`);
    expect(haved.output()).toMatch(/BACKUP -> MASTER/);
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(/"err":"send ENETUNREACH 198\.18\.9\.9:11210".*"msg":"advert socket error"/);
  }, 30_000);
});
