/**
 * Splits a child's output into log lines: "\n" or "\r\n" ends a line, empty lines are dropped, and a line
 * longer than maxLine is cut ("…" appended) so a child that never writes a newline cannot grow memory.
 */
export class LineSplitter {
  readonly #maxLine: number;
  readonly #emit: (line: string) => void;
  #partial = '';

  constructor(maxLine: number, emit: (line: string) => void) {
    this.#maxLine = maxLine;
    this.#emit = emit;
  }

  push(chunk: string): void {
    const parts = (this.#partial + chunk).split('\n');
    this.#partial = parts.pop()!;
    for (const p of parts) this.#line(p.endsWith('\r') ? p.slice(0, -1) : p);
    if (this.#partial.length > this.#maxLine) {
      this.#line(this.#partial);
      this.#partial = '';
    }
  }

  /** The stream ended: what is left is the last line. */
  end(): void {
    this.#line(this.#partial);
    this.#partial = '';
  }

  #line(line: string): void {
    if (line.length > 0) this.#emit(line.length > this.#maxLine ? `${line.slice(0, this.#maxLine)}…` : line);
  }
}
