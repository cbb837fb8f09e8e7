import { EventEmitter } from 'node:events';
import { statSync, unwatchFile, watchFile, type Stats } from 'node:fs';

export interface MapWatcherOptions {
  /** Stat-poll interval. Polling sees replace-by-rename (how editors and deploy tools save) where inotify on the old inode would not. @default 250 */
  intervalMs?: number;
  /** Quiet time after the last change before 'change' fires, so an editor saving twice reloads once. @default 300 */
  settleMs?: number;
}

/**
 * Watches the map file and the zone files it names. Emits 'change' once per
 * burst of writes, after the files have been quiet for `settleMs`. It never
 * reads or parses anything itself: the reload decides what the change means.
 */
export class MapWatcher extends EventEmitter {
  private readonly intervalMs: number;
  private readonly settleMs: number;
  private watched = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private firstLook: NodeJS.Timeout | null = null;
  private readonly onStat = (cur: Stats, prev: Stats): void => {
    if (cur.mtimeMs === prev.mtimeMs && cur.ino === prev.ino && cur.size === prev.size) return;
    this.changed();
  };

  private changed(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.emit('change');
    }, this.settleMs);
    this.timer.unref();
  }

  constructor(files: string[], options: MapWatcherOptions = {}) {
    super();
    this.intervalMs = options.intervalMs ?? 250;
    this.settleMs = options.settleMs ?? 300;
    this.setFiles(files);
  }

  /** The set of files can change with the map (a zone file added or removed). */
  setFiles(files: string[]): void {
    const next = new Set(files);
    for (const f of this.watched) if (!next.has(f)) unwatchFile(f, this.onStat);
    // watchFile takes its baseline with its first stat, asynchronously: an edit made before that (right
    // after start, on a busy machine) would never fire. So each new file's state now is compared once
    // more after the first poll.
    const added = [...next].filter((f) => !this.watched.has(f)).map((f) => ({ f, sig: signature(f) }));
    for (const { f } of added) watchFile(f, { interval: this.intervalMs, persistent: false }, this.onStat);
    this.watched = next;
    if (added.length) {
      if (this.firstLook) clearTimeout(this.firstLook);
      this.firstLook = setTimeout(() => {
        this.firstLook = null;
        if (added.some(({ f, sig }) => this.watched.has(f) && signature(f) !== sig)) this.changed();
      }, this.intervalMs * 2);
      this.firstLook.unref();
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.firstLook) clearTimeout(this.firstLook);
    for (const f of this.watched) unwatchFile(f, this.onStat);
    this.watched.clear();
    this.removeAllListeners();
  }
}

/** What a poll compares: inode, size and mtime ('' when the file is gone). */
function signature(path: string): string {
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? `${st.ino}:${st.size}:${st.mtimeMs}` : '';
}
