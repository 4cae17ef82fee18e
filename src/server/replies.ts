import { Replies, versionReply } from '../proto/text/replies.ts';
import { VERSION } from './stats.ts';

/** The constant replies the server writes, taken from the text codec's table. */
export const R = {
  STORED: Replies.STORED,
  NOT_STORED: Replies.NOT_STORED,
  EXISTS: Replies.EXISTS,
  NOT_FOUND: Replies.NOT_FOUND,
  DELETED: Replies.DELETED,
  TOUCHED: Replies.TOUCHED,
  END: Replies.END,
  OK: Replies.OK,
  RESET: Replies.RESET,
  ERROR: Replies.ERROR,
  MN: Replies.MN,
  EN: Replies.EN,
  VERSION: versionReply(VERSION),
  TOO_LARGE: Replies.TOO_LARGE,
  NO_MEMORY: Replies.OUT_OF_MEMORY_STORING,
  ARITH_NO_MEMORY: Replies.OUT_OF_MEMORY,
  NON_NUMERIC: Replies.NON_NUMERIC,
  FLUSH_DISABLED: Replies.FLUSH_DISABLED,
  SHUTDOWN_DISABLED: Replies.SHUTDOWN_DISABLED,
  BAD_FORMAT: Replies.BAD_FORMAT,
  BAD_LINE: Replies.BAD_LINE,
  DETAIL_USAGE: Replies.DETAIL_USAGE,
  DUMP_DISABLED: Replies.CACHEDUMP_DISABLED,
  ILLEGAL_SLAB: Replies.ILLEGAL_SLAB_ID,
  TOO_MANY_CONNS: Replies.TOO_MANY_CONNECTIONS,
  METADUMP_DISABLED: Replies.METADUMP_DISABLED,
  STAT_: Buffer.from('STAT ', 'latin1'),
} as const;
