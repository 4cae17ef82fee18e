import { describe, expect, it } from 'vitest';
import { errorOf, instance, parse } from './helpers.ts';

const W = (body: string) => instance(`  witness {\n${body}\n  }`); // the block opens at line 4

describe('witness block', () => {
  it('reads address, secret_file and lease; without lease the default (three advert intervals) is applied later', () => {
    const c = parse(W('    address 198.18.0.50:7070\n    secret_file /etc/haved/witness.secret\n    lease 2.5'));
    expect(c.instances[0]!.witness).toEqual({ address: { host: '198.18.0.50', port: 7070 }, secretFile: '/etc/haved/witness.secret', leaseMs: 2500, where: 'haved.conf:4' });
    expect(parse(W('    address 198.18.0.50:7070\n    secret_file /s')).instances[0]!.witness!.leaseMs).toBeNull();
    expect(parse(instance('')).instances[0]!.witness).toBeNull();
  });

  it.each([
    ['no address', W('    secret_file /s'), "haved.conf:4: (VI_1) witness needs 'address IPv4:PORT'"],
    ['no secret', W('    address 198.18.0.50:7070'), "haved.conf:4: (VI_1) witness needs 'secret_file PATH' (the same secret as the witness's --witness-secret-file)"],
    ['a host name', W('    address witness:7070\n    secret_file /s'), 'haved.conf:5: witness address must be IPv4:PORT (e.g. 198.18.0.50:7070), got "witness:7070"'],
    ['no port', W('    address 198.18.0.50\n    secret_file /s'), 'haved.conf:5: witness address must be IPv4:PORT (e.g. 198.18.0.50:7070), got "198.18.0.50"'],
    ['port 0', W('    address 198.18.0.50:0\n    secret_file /s'), 'haved.conf:5: witness port must be a port 1..65535, got "0"'],
    ['lease too short', W('    address 198.18.0.50:7070\n    secret_file /s\n    lease 0.5'), 'haved.conf:7: lease must be between 1 and 60 seconds, got "0.5"'],
    ['a typo', W('    address 198.18.0.50:7070\n    secret_fil /s'), "haved.conf:6: unknown keyword 'secret_fil' in witness (did you mean 'secret_file'?)"],
    ['a typo of the block', instance('  witnes {\n    address 198.18.0.50:7070\n  }'), "haved.conf:4: unknown keyword 'witnes' in vrrp_instance (did you mean 'witness'?)"],
  ])('%s', (_what, text, message) => {
    expect(errorOf(text)).toContain(message);
  });

  it('refused in a sync group member (the group would promote it without the lease)', () => {
    const text = `${W('    address 198.18.0.50:7070\n    secret_file /s')}vrrp_sync_group G {\n  group {\n    VI_1\n  }\n}\n`;
    expect(errorOf(text)).toContain('vrrp_sync_group G: vrrp_instance VI_1 has a witness, which haved does not support in a sync group');
  });
});
