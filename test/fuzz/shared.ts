/**
 * What the codec properties (codecs.ts) share: a property's shape, splitting bytes into chunks, and the check that
 * a codec throws nothing but its own named error.
 */
import fc from 'fast-check';

/** One property of one codec (properties of different input types share a list). */
export interface NamedProperty { name: string; property: fc.IProperty<any> }

/** Cut points for splitting n bytes: drawn as fractions so that they fit any length. */
export const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

/** `all` cut at the given fractions of its length (sorted, duplicates give empty chunks, which a codec must accept). */
export function split(all: Buffer, at: readonly number[]): Buffer[] {
  const points = at.map((f) => Math.floor(f * all.length)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(all.subarray(from, p));
    from = p;
  }
  out.push(all.subarray(from));
  return out;
}

/** Each chunk copied into a buffer of its own, as a socket hands them over (a codec must not keep a view of one). */
export const own = (chunks: Buffer[]): Buffer[] => chunks.map((c) => Buffer.from(c));

/** Bytes of a memcached key: 1..max bytes, none of them a space or a control character. */
export const keyBytes = (max = 250) =>
  fc.uint8Array({ minLength: 1, maxLength: max }).map((a) => Buffer.from(a.map((b) => (b <= 0x20 || b === 0x7f ? 0x21 + (b % 94) : b))));

/** Arbitrary bytes, mostly short, sometimes long. */
export const anyBytes = (max = 2048) =>
  fc.oneof({ weight: 3, arbitrary: fc.uint8Array({ maxLength: 64 }) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: max }) }).map((a) => Buffer.from(a));

/** Bytes that look like the protocol: pieces of real messages glued with arbitrary bytes. */
export function gluedBytes(pieces: readonly (string | Buffer)[], max = 24): fc.Arbitrary<Buffer> {
  const piece = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...pieces).map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.nat(99999).map((n) => Buffer.from(String(n))) },
  );
  return fc.array(piece, { maxLength: max }).map((ps) => Buffer.concat(ps));
}

/** Runs fn; a throw that is not an instance of `named` fails the property (with the bytes that caused it). */
export function onlyThrows(named: abstract new (...args: never[]) => Error, fn: () => void): { threw: Error | null } {
  try {
    fn();
    return { threw: null };
  } catch (e) {
    if (e instanceof named) return { threw: e };
    throw new Error(`threw ${(e as Error)?.name ?? typeof e} instead of ${named.name}: ${(e as Error)?.stack ?? String(e)}`);
  }
}

/** For deep comparison: Buffers as latin1 strings, bigints as strings, object keys sorted, undefined fields dropped. */
export function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return `b:${Buffer.from(v).toString('latin1')}`;
  if (typeof v === 'bigint') return `n:${v}`;
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

/** Deep equality of plain() values, throwing with both sides on a difference. */
export function same(got: unknown, want: unknown, what: string): void {
  const g = JSON.stringify(plain(got));
  const w = JSON.stringify(plain(want));
  if (g !== w) throw new Error(`${what} differ:\n got  ${g.slice(0, 2000)}\n want ${w.slice(0, 2000)}`);
}
