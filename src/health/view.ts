import type { EventEmitter } from 'node:events';

/**
 * What routing needs from health: a synchronous verdict per (service,
 * datacenter) read from memory, and a 'change' event after any verdict moves.
 * The Redis-backed mirror implements the same interface.
 */
export interface HealthView extends EventEmitter {
  isUp(service: string, datacenter: string): boolean;
}
