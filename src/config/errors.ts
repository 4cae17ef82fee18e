export class ConfigError extends Error {
  override name = 'ConfigError';
  /** "file:line" of the offending token or block. */
  readonly where: string;
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.where = where;
  }
}

/** An error after which reading cannot go on (a block not closed at the end of the file). */
export class FatalConfigError extends ConfigError {
  override name = 'FatalConfigError';
}

/** Every error found in a config, in file and line order; the message has one line per error. */
export class ConfigErrors extends ConfigError {
  override name = 'ConfigErrors';
  readonly errors: readonly ConfigError[];
  constructor(errors: readonly ConfigError[]) {
    super(errors[0]!.where, '');
    this.errors = errors;
    this.message = errors.map((e) => e.message).join('\n');
  }
}

/** The single errors inside a ConfigError (itself, or each one of a ConfigErrors). */
export function configErrorList(e: ConfigError): readonly ConfigError[] {
  return e instanceof ConfigErrors ? e.errors : [e];
}
