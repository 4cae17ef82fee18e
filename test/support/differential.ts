/** What the differential suites share: the end marker of a stream and the normalisation of replies. */

/** Sent after a stream: its reply tells that every reply before it has arrived. */
export const SENTINEL = 'set zz_sentinel 0 0 6\r\nSENTNL\r\nget zz_sentinel\r\n';
export const SENTINEL_REPLY = 'STORED\r\nVALUE zz_sentinel 0 6\r\nSENTNL\r\nEND\r\n';

/** A meta command's reply line (its code and return flags). */
export const META_REPLY = /^(?:HD|VA|EN|NF|NS|EX)\b.*$/gm;

/**
 * Replaces each distinct CAS unique of a VALUE line with its order of first appearance, a meta reply's
 * c flag with c*, and version/stat values with '*'.
 */
export function normalise(reply: string): string {
  const cas = new Map<string, string>();
  return reply
    .replace(/^(VALUE \S+ \d+ \d+) (\d+)\r$/gm, (_, head: string, id: string) => {
      if (!cas.has(id)) cas.set(id, `C${cas.size + 1}`);
      return `${head} ${cas.get(id)}\r`;
    })
    .replace(META_REPLY, (line) => line.replace(/ c\d+/g, ' c*'))
    .replace(/^VERSION \S+\r$/gm, 'VERSION *\r')
    .replace(/^(STAT \S+) .*\r$/gm, '$1 *\r');
}
