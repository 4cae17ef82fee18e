export class ConfigError extends Error {
  override name = 'ConfigError';
  /** "file:line" of the offending token or block. */
  readonly where: string;
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.where = where;
  }
}
