import { describe, expect, it } from 'vitest';
import { lookupUser, resolveUser, UnknownGroupError, UnknownUserError, type UserDatabase } from '../../../src/system/users.ts';

const db: UserDatabase = {
  passwd: () =>
    [
      'root:x:0:0:root:/root:/bin/bash',
      'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
      'broken:x:7',
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
      '',
    ].join('\n'),
  group: () => ['root:x:0:', 'daemon:x:1:', 'haved:x:998:nobody', 'nogroup:x:65534:', ''].join('\n'),
};

describe('lookupUser', () => {
  it('finds a user by name or by numeric uid, with the primary gid', () => {
    expect(lookupUser('nobody', db)).toEqual({ uid: 65534, gid: 65534 });
    expect(lookupUser('1', db)).toEqual({ uid: 1, gid: 1 });
    expect(lookupUser('001', db)).toEqual({ uid: 1, gid: 1 });
  });

  it('is null for a user not listed, and skips lines without a gid', () => {
    expect(lookupUser('memcache', db)).toBeNull();
    expect(lookupUser('4242', db)).toBeNull();
    expect(lookupUser('broken', db)).toBeNull();
    expect(lookupUser('7', db)).toBeNull();
  });
});

describe('resolveUser', () => {
  it('takes a listed name or uid with its primary group', () => {
    expect(resolveUser('nobody', db)).toEqual({ uid: 65534, gid: 65534 });
    expect(resolveUser('0', db)).toEqual({ uid: 0, gid: 0 });
  });

  it('takes an unlisted numeric uid as is, with the same number as gid', () => {
    expect(resolveUser('4242', db)).toEqual({ uid: 4242, gid: 4242 });
  });

  it('refuses an unlisted name', () => {
    expect(() => resolveUser('memcache', db)).toThrow(UnknownUserError);
    expect(() => resolveUser('memcache', db)).toThrow("unknown user 'memcache'");
  });

  it('takes a group after ":" or a space, by name or gid', () => {
    expect(resolveUser('nobody:haved', db)).toEqual({ uid: 65534, gid: 998 });
    expect(resolveUser('nobody haved', db)).toEqual({ uid: 65534, gid: 998 });
    expect(resolveUser('daemon:0', db)).toEqual({ uid: 1, gid: 0 });
    expect(resolveUser('daemon:5000', db)).toEqual({ uid: 1, gid: 5000 });
  });

  it('refuses an unlisted group name, and reads group(5) only when a group is given', () => {
    expect(() => resolveUser('nobody:wheel', db)).toThrow(UnknownGroupError);
    expect(() => resolveUser('nobody:wheel', db)).toThrow("unknown group 'wheel'");
    const noGroups = { ...db, group: () => { throw new Error('group(5) read'); } };
    expect(resolveUser('daemon', noGroups)).toEqual({ uid: 1, gid: 1 });
  });
});
