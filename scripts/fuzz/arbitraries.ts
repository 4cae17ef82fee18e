/** What the daemon fuzz generates: the codec properties' arbitraries (test/fuzz/), as bytes to send. */
import fc from 'fast-check';
import { encodeAdvert } from '../../src/proto/advert/index.ts';
import { requestLike, requests } from '../../test/fuzz/text-properties.ts';
import { advert, binaryCase, frameLike, rawRequest } from '../../test/fuzz/wire-properties.ts';

export const textRequestArbitrary: fc.Arbitrary<Buffer> = fc.oneof(requestLike, requests.map((rs) => Buffer.concat(rs.map((r) => r.bytes))));

export const binaryRequestArbitrary: fc.Arbitrary<Buffer> = fc.oneof(
  fc.array(binaryCase, { minLength: 1, maxLength: 6 }).map((cs) => Buffer.concat(cs.map((c) => c.bytes))),
  fc.array(rawRequest, { minLength: 1, maxLength: 6 }).map((rs) => Buffer.concat(rs)),
);

export const replicationFrameArbitrary: fc.Arbitrary<Buffer> = frameLike;

/** Adverts with any fields: signed with the right key (authentic but hostile), a wrong one, or PASS / none. */
export const advertDatagramArbitrary = (key: string): fc.Arbitrary<Buffer> =>
  fc.tuple(advert, fc.constantFrom(key, key, 'wrong-key', null)).map(([m, k]) =>
    encodeAdvert({ ...m, vrid: m.vrid % 3 === 0 ? 51 : m.vrid }, k === null ? { type: 'none' } : { type: 'HMAC', key: k }));
