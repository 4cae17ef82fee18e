import type { TextCommand } from './commands.ts';

export interface TextParserOptions {
  /** Largest value accepted by storage commands (memcached's -I), in bytes. */
  maxItemSize: number;
}

/** Incremental parser for memcached's text protocol: bytes in, TextCommand messages out. */
export class TextParser {
  readonly #opts: TextParserOptions;
  readonly #onCommand: (cmd: TextCommand) => void;

  constructor(opts: TextParserOptions, onCommand: (cmd: TextCommand) => void) {
    this.#opts = opts;
    this.#onCommand = onCommand;
  }

  /** Feed bytes as they arrive, split anywhere. Calls onCommand synchronously for each complete command. */
  push(chunk: Buffer): void {
    void chunk;
    void this.#opts;
    void this.#onCommand;
  }

  /** Bytes held waiting for the rest of a command. */
  get pending(): number {
    return 0;
  }
}
