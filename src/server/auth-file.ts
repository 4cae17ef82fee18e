/**
 * memcached's -Y auth file: one `user:password` per line (the password runs to the end of the line). Parsing is
 * pure; loadAuthFile() reads the file. Unlike memcached, which keeps the first 8 entries silently and cuts a
 * password at 255 bytes, every line counts and a bad one is an error naming file:line.
 */
// node:fs is taken when a file is read, not imported: in a serving thread of repcache -t N it would load about a
// dozen of Node's modules (streams, promises, watchers) into every thread for a file most nodes never read

export class AuthFileError extends Error {
  override name = 'AuthFileError';
}

interface Entry {
  user: Buffer;
  /** sha256 of the password: every comparison then has the same length */
  passDigest: Buffer;
}

/** node:crypto is loaded when an auth file is used: a worker thread without -Y need not carry it. */
const digest = (b: Uint8Array): Buffer => process.getBuiltinModule('node:crypto').createHash('sha256').update(b).digest();

/** The credentials of an auth file. check() takes the same time whichever entry, if any, matches. */
export class Credentials {
  readonly #entries: Entry[];
  readonly #userDigests: Buffer[];

  constructor(pairs: ReadonlyArray<readonly [string, string]>) {
    this.#entries = pairs.map(([u, p]) => ({ user: Buffer.from(u, 'latin1'), passDigest: digest(Buffer.from(p, 'latin1')) }));
    this.#userDigests = this.#entries.map((e) => digest(e.user));
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Whether user:pass is an entry. Compares digests of both against every entry, with no early exit. */
  check(user: Uint8Array, pass: Uint8Array): boolean {
    const u = digest(user);
    const p = digest(pass);
    const { timingSafeEqual } = process.getBuiltinModule('node:crypto');
    let ok = 0;
    for (let i = 0; i < this.#entries.length; i++) {
      const userMatch = timingSafeEqual(u, this.#userDigests[i]) ? 1 : 0;
      const passMatch = timingSafeEqual(p, this.#entries[i].passDigest) ? 1 : 0;
      ok |= userMatch & passMatch;
    }
    return ok === 1;
  }
}

/** Parses an auth file's text; `path` names it in errors ("path:3: ..."). */
export function parseAuthFile(text: string, path: string): Credentials {
  return new Credentials(parseAuthEntries(text, path));
}

/** The user:password pairs of an auth file's text, in order. */
export function parseAuthEntries(text: string, path: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  const lines = text.split('\n');
  // a final newline ends the last line; it does not start an empty one
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const where = `${path}:${i + 1}`;
    if (line.trim() === '') throw new AuthFileError(`${where}: empty line; every line must be user:password`);
    const colon = line.indexOf(':');
    if (colon < 0) throw new AuthFileError(`${where}: malformed entry, should be 'user:password'`);
    const user = line.slice(0, colon);
    const pass = line.slice(colon + 1);
    if (user === '') throw new AuthFileError(`${where}: empty user name`);
    if (pass === '') throw new AuthFileError(`${where}: empty password for user '${user}'`);
    // the text protocol's `set` authentication sends "user password": a space cannot be in either
    if (/[ \0\r]/.test(line)) throw new AuthFileError(`${where}: a user name or password cannot contain a space, a NUL or a CR`);
    pairs.push([user, pass]);
  });
  if (pairs.length === 0) throw new AuthFileError(`${path}: no user:password entries`);
  return pairs;
}

/** Reads and parses an auth file; a missing, unreadable, empty or malformed file is an AuthFileError. */
export function loadAuthFile(path: string): Credentials {
  return new Credentials(readAuthEntries(path));
}

/** The entries of an auth file (for a local client that authenticates with the first one). */
export function readAuthEntries(path: string): Array<[string, string]> {
  let text: string;
  try {
    text = process.getBuiltinModule('node:fs').readFileSync(path, 'latin1');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new AuthFileError(`Could not open authfile [${path}] for reading: ${e.code === 'ENOENT' ? 'No such file or directory' : e.code === 'EACCES' ? 'Permission denied' : e.message}`);
  }
  return parseAuthEntries(text, path);
}
