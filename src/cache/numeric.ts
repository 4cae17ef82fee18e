export const U64_MAX = (1n << 64n) - 1n;

const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/**
 * memcached's safe_strtoull() on an item value: optional leading whitespace and
 * sign, decimal digits, then whitespace or the end of the value. Returns -1n
 * when the value is not an unsigned 64-bit number.
 */
export function parseU64(bytes: Uint8Array, start: number, len: number): bigint {
  const end = start + len;
  let i = start;
  while (i < end && isSpace(bytes[i])) i++;
  let negative = false;
  if (i < end && (bytes[i] === 0x2b || bytes[i] === 0x2d)) negative = bytes[i++] === 0x2d;
  const digitsStart = i;
  let n = 0n;
  let small = 0;
  while (i < end && bytes[i] >= 0x30 && bytes[i] <= 0x39) {
    if (i - digitsStart < 15) {
      small = small * 10 + (bytes[i] - 0x30);
    } else {
      if (i - digitsStart === 15) n = BigInt(small);
      n = n * 10n + BigInt(bytes[i] - 0x30);
    }
    i++;
  }
  if (i === digitsStart) return -1n;
  if (i < end && !isSpace(bytes[i])) return -1n;
  if (i - digitsStart <= 15) n = BigInt(small);
  if (n > U64_MAX) return -1n;
  if (negative && n !== 0n) {
    n = (1n << 64n) - n;
    // strtoull accepts "-5" as 2^64-5; memcached rejects it when that looks negative as int64.
    if (n >= 1n << 63n) return -1n;
  }
  return n;
}
