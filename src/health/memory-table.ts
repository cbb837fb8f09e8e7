import { EventEmitter } from 'node:events';
import type { HealthView } from './view';

/**
 * The embedded health table: verdicts held in this process only. It is what
 * `serve` uses without Redis, and the shape the Redis mirror also presents.
 * Unknown (service, datacenter) pairs are up: at cold start nothing is known
 * and failing open beats answering nothing.
 */
export class MemoryHealthTable extends EventEmitter implements HealthView {
  private readonly down = new Set<string>();

  isUp(service: string, datacenter: string): boolean {
    if (this.down.size === 0) return true;
    return !this.down.has(`${service}\0${datacenter}`) && !this.down.has(`*\0${datacenter}`);
  }

  /** Marks a datacenter up or down for one service, or for every service with service '*'. */
  set(service: string, datacenter: string, up: boolean): void {
    const key = `${service}\0${datacenter}`;
    const had = this.down.has(key);
    if (up === !had) return;
    if (up) this.down.delete(key);
    else this.down.add(key);
    this.emit('change');
  }
}
