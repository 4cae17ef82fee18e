/** A bad command line: the message is printed as it is, and the process exits with `exitCode`. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}
