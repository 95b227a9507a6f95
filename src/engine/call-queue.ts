// Runs calls one at a time, in the order they were made. A call whose signal fires while it waits leaves the
// queue at once (settled by its `cancelled` handler); one that is running receives the signal and ends itself.

interface Entry {
  start(): void;
  fail(error: unknown): void;
}

export class CallQueue {
  private readonly waiting: Entry[] = [];
  private running = false;

  run<T>(task: () => Promise<T>, signal: AbortSignal | undefined, cancelled: () => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i < 0) return; // already running: the task sees the signal
        this.waiting.splice(i, 1);
        Promise.resolve().then(cancelled).then(resolve, reject);
      };
      const entry: Entry = {
        start: () => {
          signal?.removeEventListener("abort", onAbort);
          this.running = true;
          Promise.resolve()
            .then(task)
            .then(resolve, reject)
            .finally(() => {
              this.running = false;
              this.waiting.shift()?.start();
            });
        },
        fail: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      if (!this.running && this.waiting.length === 0) entry.start();
      else if (signal?.aborted) Promise.resolve().then(cancelled).then(resolve, reject);
      else {
        this.waiting.push(entry);
        signal?.addEventListener("abort", onAbort, { once: true });
      }
    });
  }

  /** Rejects every waiting call with `error` (the running one continues). */
  failWaiting(error: unknown): void {
    for (const e of this.waiting.splice(0)) e.fail(error);
  }
}
