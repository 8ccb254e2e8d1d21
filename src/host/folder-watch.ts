/**
 * Wakes a waiter when something in a folder changes (inotify through
 * `fs.watch`), so that a host attaching to a sidecar sees the plugin's
 * handshake file the moment it is renamed into place rather than at its next
 * poll. Without the folder (not mounted yet) or without watches it degrades
 * to the poll alone.
 */
import { type FSWatcher, watch } from "node:fs";

/** Why a wait ended: a change in the folder, its time limit, or an abort or close(). */
export type Wake = "change" | "time" | "stopped";

/** A folder's changes, coalesced: any number between two waits is one wake-up. */
export class FolderWatch {
  private readonly dir: string;
  private watcher: FSWatcher | undefined;
  private changed = false;
  private wake: ((why: Wake) => void) | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Watches the folder if it is not watched yet (it may appear late); quietly does nothing when it cannot. */
  ensure(): void {
    if (this.watcher) return;
    try {
      this.watcher = watch(this.dir, { persistent: false }, () => {
        this.changed = true;
        this.wake?.("change");
      });
      // A watch that fails later (the folder removed) leaves the poll to look.
      this.watcher.on("error", () => this.dropWatcher());
    } catch {
      // No such folder yet, or no watches left: the poll alone.
    }
  }

  /** Resolves on the next change (or one since the last wait), after `ms` at most, or when `signal` aborts. */
  next(ms: number, signal?: AbortSignal): Promise<Wake> {
    if (this.changed) {
      this.changed = false;
      return Promise.resolve("change");
    }
    return new Promise((resolve) => {
      const done = (why: Wake): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", stopped);
        this.wake = undefined;
        this.changed = false;
        resolve(why);
      };
      const stopped = (): void => done("stopped");
      const timer = setTimeout(() => done("time"), ms);
      signal?.addEventListener("abort", stopped, { once: true });
      this.wake = done;
    });
  }

  /** Stops watching; a wait in progress ends as "stopped". */
  close(): void {
    this.dropWatcher();
    this.wake?.("stopped");
  }

  private dropWatcher(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }
}
