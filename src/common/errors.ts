/**
 * Base error for everything geosteer raises on purpose. Each kind carries a
 * stable `GS_ERR_<AREA>_<WHAT>` code (listed in docs/errors.md) so scripts and
 * tests can match on the code instead of the message.
 */
export class GeosteerError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GeosteerError';
    this.code = code;
  }
}

/** One problem found in a config source, pointing at FILE:LINE:COL. */
export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  /** YAML path such as `services.www.datacenters[2]`, or '' for zone-file lines. */
  path: string;
  message: string;
}

export function formatIssue(i: ConfigIssue): string {
  const where = `${i.file}:${i.line}:${i.col}`;
  return i.path ? `${where}: ${i.path}: ${i.message}` : `${where}: ${i.message}`;
}

/** A map file (or a zone file it names) was rejected; `issues` lists every problem found. */
export class ConfigError extends GeosteerError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(
      'GS_ERR_CONFIG_INVALID',
      `${issues.length} error(s) in map file:\n` + issues.map(formatIssue).join('\n'),
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** The GeoIP database could not be opened or failed its sanity check. */
export class GeoDbError extends GeosteerError {
  constructor(message: string, options?: ErrorOptions) {
    super('GS_ERR_GEO_DATABASE', message, options);
    this.name = 'GeoDbError';
  }
}

/** The shared health table (Redis) did not answer in time. */
export class RedisUnavailableError extends GeosteerError {
  constructor(message: string, options?: ErrorOptions) {
    super('GS_ERR_REDIS_UNAVAILABLE', message, options);
    this.name = 'RedisUnavailableError';
  }
}

/** Nothing published yet, a version not kept, or a published map this host cannot use. */
export class PublishedMapError extends GeosteerError {
  constructor(message: string, options?: ErrorOptions) {
    super('GS_ERR_MAP_PUBLISHED', message, options);
    this.name = 'PublishedMapError';
  }
}

/** A state document (geosteer state export, a serve's /api/state, a snapshot) that cannot be read or trusted. */
export class StateDocError extends GeosteerError {
  constructor(message: string) {
    super('GS_ERR_STATE_DOC', message);
    this.name = 'StateDocError';
  }
}

/** `drain`/`undrain`/`promote`/`status` without REDIS could not steer the server at --server (not running, no token, shared table). */
export class ControlError extends GeosteerError {
  constructor(message: string) {
    super('GS_ERR_CONTROL', message);
    this.name = 'ControlError';
  }
}

/** The ASN database a map's `asns:` rules need could not be read or is not an ASN database. */
export class AsnDbError extends GeosteerError {
  constructor(message: string, options?: ErrorOptions) {
    super('GS_ERR_ASN_DATABASE', message, options);
    this.name = 'AsnDbError';
  }
}
