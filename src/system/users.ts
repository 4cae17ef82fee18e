import { readFileSync } from 'node:fs';

export class UnknownUserError extends Error {
  override name = 'UnknownUserError';
}

export class UnknownGroupError extends Error {
  override name = 'UnknownGroupError';
}

export interface UserIds {
  uid: number;
  gid: number;
}

/** The text of passwd(5) and group(5); injectable for tests. */
export interface UserDatabase {
  passwd(): string;
  group(): string;
}

export const systemUserDatabase: UserDatabase = {
  passwd: () => readFileSync('/etc/passwd', 'utf8'),
  group: () => readFileSync('/etc/group', 'utf8'),
};

const isNumeric = (s: string) => /^\d+$/.test(s);

/** The fields of the first `name:x:id:…` line naming `key`: by name, or by id if `key` is numeric. */
function findEntry(text: string, key: string, minFields: number): string[] | null {
  const numeric = isNumeric(key);
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < minFields) continue;
    if (numeric ? f[2] !== '' && Number(f[2]) === Number(key) : f[0] === key) return f;
  }
  return null;
}

/** uid and primary gid of a user name or numeric uid listed in passwd(5); null if not listed. */
export function lookupUser(user: string, db: UserDatabase = systemUserDatabase): UserIds | null {
  const f = findEntry(db.passwd(), user, 4);
  return f ? { uid: Number(f[2]), gid: Number(f[3]) } : null;
}

/**
 * uid and gid for "user", "user:group" or "user group" (keepalived's script_user). A name must be listed;
 * an unlisted numeric uid or gid is taken as is, and an unlisted numeric uid gets the same number as gid.
 */
export function resolveUser(spec: string, db: UserDatabase = systemUserDatabase): UserIds {
  const [user = '', group] = spec.trim().split(/[\s:]+/);
  const ids = lookupUser(user, db) ?? (isNumeric(user) ? { uid: Number(user), gid: Number(user) } : null);
  if (!ids) throw new UnknownUserError(`unknown user '${user}'`);
  if (!group) return ids;
  const g = findEntry(db.group(), group, 3);
  if (g) return { uid: ids.uid, gid: Number(g[2]) };
  if (isNumeric(group)) return { uid: ids.uid, gid: Number(group) };
  throw new UnknownGroupError(`unknown group '${group}'`);
}
