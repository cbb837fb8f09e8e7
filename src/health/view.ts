import type { EventEmitter } from 'node:events';

/**
 * What routing needs from health: a synchronous verdict per (service,
 * datacenter) read from memory, the primary pointers, and a 'change' event
 * after any of them moves.
 * The Redis-backed mirror implements the same interface.
 */
export interface HealthView extends EventEmitter {
  isUp(service: string, datacenter: string): boolean;
  /** The shared primary pointer of a `policy: primary` service, or null when none was written. */
  primary(service: string): string | null;
}
