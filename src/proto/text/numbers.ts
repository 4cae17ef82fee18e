/**
 * memcached's number parsing (util.c safe_strtoul / safe_strtol / safe_strtoull) on byte ranges,
 * reproduced exactly because clients see the difference: C's strtoul skips leading whitespace and
 * accepts a sign, "-5" is rejected but "-0" is 0, the value is parsed as 64 bits and then
 * truncated to the 32-bit destination (flags 4294967297 is stored as 1), and the character after
 * the digits must be whitespace or the end of the token.
 */

const TWO_64 = 1n << 64n;
const TWO_63 = 1n << 63n;
const MAX_FAST_DIGITS = 15; // below 2^53, exact as a double

const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);

// Results of the last scan(); module-level so parsing allocates nothing.
let negative = false;
let digitsStart = 0;
let digitsEnd = 0;

/** Finds sign and digits of b[s, e); false when strtoul would fail or trailing junk follows. */
function scan(b: Buffer, s: number, e: number): boolean {
  let i = s;
  while (i < e && isSpace(b[i])) i++;
  negative = false;
  if (i < e && (b[i] === 0x2b || b[i] === 0x2d)) {
    negative = b[i] === 0x2d;
    i++;
  }
  digitsStart = i;
  while (i < e && b[i] >= 0x30 && b[i] <= 0x39) i++;
  digitsEnd = i;
  if (digitsEnd === digitsStart) return false;
  return i === e || isSpace(b[i]);
}

function fastMagnitude(b: Buffer): number {
  let v = 0;
  for (let i = digitsStart; i < digitsEnd; i++) v = v * 10 + (b[i] - 0x30);
  return v;
}

function bigMagnitude(b: Buffer): bigint {
  return BigInt(b.toString('latin1', digitsStart, digitsEnd));
}

/** safe_strtoull: a uint64, or null when memcached rejects the token. */
export function parseU64(b: Buffer, s: number, e: number): bigint | null {
  if (!scan(b, s, e)) return null;
  if (!negative && digitsEnd - digitsStart <= MAX_FAST_DIGITS) return BigInt(fastMagnitude(b));
  return parseU64Scanned(b);
}

/** safe_strtoul into a uint32_t: NaN when rejected, else the value truncated to 32 bits. */
export function parseU32(b: Buffer, s: number, e: number): number {
  if (!scan(b, s, e)) return NaN;
  if (!negative && digitsEnd - digitsStart <= MAX_FAST_DIGITS) return fastMagnitude(b) >>> 0;
  const v = parseU64Scanned(b);
  return v === null ? NaN : Number(BigInt.asUintN(32, v));
}

function parseU64Scanned(b: Buffer): bigint | null {
  const mag = bigMagnitude(b);
  if (mag >= TWO_64) return null; // ERANGE
  if (!negative || mag === 0n) return mag;
  // strto(u)ll negates modulo 2^64; memcached refuses the result when it looks negative as int64.
  const v = TWO_64 - mag;
  return v >= TWO_63 ? null : v;
}

/** safe_strtol into an int32_t: NaN when rejected, else the 64-bit value truncated to 32 bits. */
export function parseI32(b: Buffer, s: number, e: number): number {
  if (!scan(b, s, e)) return NaN;
  if (digitsEnd - digitsStart <= MAX_FAST_DIGITS) {
    const m = fastMagnitude(b);
    return (negative ? -m : m) | 0;
  }
  const mag = bigMagnitude(b);
  const v = negative ? -mag : mag;
  if (v >= TWO_63 || v < -TWO_63) return NaN; // ERANGE for a 64-bit long
  return Number(BigInt.asIntN(32, v));
}
