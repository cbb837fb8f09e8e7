import type { ConfigError } from '../common/errors';

/**
 * A rejected map as the CLI prints it. A map file that cannot be read at all is one line,
 * `cannot read FILE: no such file or directory`, not a one-item list of FILE:0:0 problems;
 * every other rejection keeps the full `FILE:LINE:COL: PATH: reason` list.
 */
export function mapErrorText(e: ConfigError): string {
  const [only, ...more] = e.issues;
  if (!only || more.length || only.line !== 0 || only.path !== '') return e.message;
  // loadMapFile's text: "cannot read: ENOENT: no such file or directory, open 'FILE'"
  const m = /^cannot read: (?:E[A-Z]+: )?(.*?)(?:, \w+ '.*')?$/.exec(only.message);
  return m ? `cannot read ${only.file}: ${m[1]}` : `${only.file}: ${only.message}`;
}
