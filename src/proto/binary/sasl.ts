/**
 * SASL PLAIN (RFC 4616) as memcached's binary protocol carries it: SASL_AUTH's key is the mechanism name, its
 * value `[authzid] NUL authcid NUL passwd`. Pure.
 */

/** What LIST_MECHS answers. */
export const MECHANISMS = 'PLAIN';
/** memcached's MAX_SASL_MECH_LEN: a longer mechanism name is "Invalid arguments". */
export const MAX_MECH_LENGTH = 32;

export interface PlainCredentials {
  user: Buffer;
  pass: Buffer;
}

/**
 * The user and password of a PLAIN message, or null when it is malformed (not exactly two NULs, an empty user)
 * or asks to act as another identity (an authzid other than the user: no proxying, as Cyrus SASL by default).
 */
export function parsePlain(msg: Buffer): PlainCredentials | null {
  const a = msg.indexOf(0);
  if (a < 0) return null;
  const b = msg.indexOf(0, a + 1);
  if (b < 0 || msg.indexOf(0, b + 1) >= 0) return null;
  const authzid = msg.subarray(0, a);
  const user = msg.subarray(a + 1, b);
  const pass = msg.subarray(b + 1);
  if (user.length === 0) return null;
  if (authzid.length > 0 && !authzid.equals(user)) return null;
  return { user, pass };
}

export function isPlain(mech: Buffer): boolean {
  return mech.length === 5 && mech.toString('latin1').toUpperCase() === 'PLAIN';
}
