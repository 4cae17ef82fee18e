import type { HavedConfig } from './model.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
  /** "file:line" of the offending token. */
  readonly where: string;
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.where = where;
  }
}

export interface LoadOptions {
  readFile?: (path: string) => string;
  glob?: (pattern: string, cwd: string) => string[];
  /** Addresses of this host; a real_server on one of them (or 127.0.0.1) is the local cache. */
  localAddresses?: string[];
}

export function loadConfig(path: string, _opts?: LoadOptions): HavedConfig {
  throw new ConfigError(`${path}:0`, 'not implemented yet');
}

export function parseConfigText(_text: string, file: string, _opts?: LoadOptions): HavedConfig {
  throw new ConfigError(`${file}:0`, 'not implemented yet');
}
