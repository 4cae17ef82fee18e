/**
 * Messages produced by the memcached text-protocol parser (src/proto/text/parser.ts).
 * Keys and values are Buffers (bytes, not strings). A value Buffer may be a view into the
 * parser's read buffer: consumers must copy it before the next push().
 */
export type StoreOp = 'set' | 'add' | 'replace' | 'append' | 'prepend' | 'cas';
export type GetOp = 'get' | 'gets' | 'gat' | 'gats';

export interface StoreCommand {
  kind: 'store';
  op: StoreOp;
  key: Buffer;
  flags: number; // uint32
  exptime: number; // as sent: 0, relative seconds, absolute unix time, or negative
  cas: bigint; // only for op 'cas', else 0n
  noreply: boolean;
  data: Buffer;
}

/** A storage command whose value exceeds the item size limit: the data block was swallowed. */
export interface TooLargeCommand {
  kind: 'too_large';
  op: StoreOp;
  key: Buffer;
  noreply: boolean;
}

export interface GetCommand {
  kind: 'get';
  op: GetOp;
  /** Every key, as views into the read buffer. */
  readonly keys: Buffer[];
  exptime: number; // gat/gats only, else 0
  /**
   * Where the key lies, src[keyStart, keyEnd), so that a server can look it up without a view of it (`keys`
   * is then made only when read).
   */
  readonly src: Buffer;
  /** A DataView of src (for hashing a key a word at a time). */
  readonly srcView: DataView;
  readonly keyStart: number;
  readonly keyEnd: number;
  /**
   * True when src[keyStart, keyEnd) holds several keys (a multiget), separated by spaces and ended by a NUL if one
   * comes first (see nextKey()); every one of them is known to be short enough. The server may then read the keys
   * from there one at a time, without the `keys` array.
   */
  readonly multi: boolean;
}

export interface DeleteCommand { kind: 'delete'; key: Buffer; noreply: boolean }
export interface ArithCommand { kind: 'arith'; op: 'incr' | 'decr'; key: Buffer; delta: bigint; noreply: boolean }
export interface TouchCommand { kind: 'touch'; key: Buffer; exptime: number; noreply: boolean }
/** delay: seconds as sent (relative or absolute); 0 means now (negative delays arrive as 0). */
export interface FlushCommand { kind: 'flush_all'; delay: number; noreply: boolean }
export interface VersionCommand { kind: 'version' }
export interface VerbosityCommand { kind: 'verbosity'; level: number; noreply: boolean }
export interface QuitCommand { kind: 'quit' }
/**
 * `shutdown [graceful]`. validMode is false for any other argument: memcached answers
 * `CLIENT_ERROR invalid shutdown mode` then, but only when shutdown is enabled (-A).
 */
export interface ShutdownCommand { kind: 'shutdown'; graceful: boolean; validMode: boolean }
/** `stats` with its arguments (e.g. ['items'], ['cachedump','1','10'], [] for plain stats). */
export interface StatsCommand { kind: 'stats'; args: string[] }
/**
 * Any other command line the server may implement: meta commands (mg ms md ma mn me) and admin
 * commands (slabs, lru, lru_crawler, watch, cache_memlimit). `tokens` are the words after the
 * name (latin1, memcached's tokenizer: at most 22, the rest of a longer line is dropped); `line`
 * is the whole line without \r\n. `ms` carries its data block in `data` (without its \r\n);
 * when that exceeded the item size limit the block was swallowed, `data` is absent and
 * `tooLarge` is set (memcached answers `SERVER_ERROR object too large for cache`).
 */
/** `tooLarge`: an ms whose data block was swallowed; `badChunk`: an ms whose data block did not end in \r\n. */
export interface OtherCommand { kind: 'other'; name: string; tokens: string[]; line: Buffer; data?: Buffer; tooLarge?: boolean; badChunk?: boolean }

/**
 * The parser already knows the exact reply for a malformed request (memcached's error strings).
 * `reply` includes the trailing \r\n; empty when noreply suppressed it. `close` asks the server to
 * close the connection after writing it.
 */
export interface ProtocolError { kind: 'error'; reply: Buffer; close: boolean }

/** Close the connection without a reply (HTTP request line, over-long line without \n). */
export interface CloseCommand { kind: 'close'; reason: string }

export type TextCommand =
  | StoreCommand | TooLargeCommand | GetCommand | DeleteCommand | ArithCommand | TouchCommand
  | FlushCommand | VersionCommand | VerbosityCommand | QuitCommand | ShutdownCommand | StatsCommand
  | OtherCommand | ProtocolError | CloseCommand;
