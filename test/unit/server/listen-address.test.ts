import { describe, expect, it } from 'vitest';
import { parseListenAddress } from '../../../src/server/listen-address.ts';

describe('parseListenAddress', () => {
  it.each([
    ['127.0.0.1', { host: '127.0.0.1', port: 11211 }],
    ['127.0.0.1:11300', { host: '127.0.0.1', port: 11300 }],
    ['localhost:5', { host: 'localhost', port: 5 }],
    ['::1', { host: '::1', port: 11211 }],
    ['[::1]', { host: '::1', port: 11211 }],
    ['[::1]:11400', { host: '::1', port: 11400 }],
    ['notls:10.0.0.1:7', { host: '10.0.0.1', port: 7 }],
  ])('%s', (entry, want) => {
    expect(parseListenAddress(entry, 11211)).toEqual(want);
  });
});
