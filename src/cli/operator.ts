import { hostname, userInfo } from 'node:os';

/** Who runs this command, for audit entries (`user@host`), unless --by says otherwise. */
export function operator(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return hostname();
  }
}
