// A one-line progress bar on stderr for long CLI operations (load, quantize, ppl, fine-tune). It draws only when
// stderr is a terminal, so piped or redirected output stays clean; redraws are throttled so that a fast loop
// does not spend its time writing escape codes.

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

const REDRAW_MS = 100;
const BAR_WIDTH = 24;

export class ProgressBar {
  private lastDraw = -Infinity;
  private drawn = false;
  private readonly start: number;

  /** `label` names the phase ("load", "quantize"…); the bar is inert when `stream` is not a terminal. */
  constructor(
    private readonly label: string,
    private readonly stream: ProgressStream = process.stderr,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.start = now();
  }

  get active(): boolean {
    return this.stream.isTTY === true;
  }

  /** Shows `done` of `total` with an ETA from the average rate so far; `detail` is appended (a tensor name, a loss). */
  update(done: number, total: number, detail = ""): void {
    if (!this.active) return;
    const t = this.now();
    if (done < total && t - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = t;
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(fraction * BAR_WIDTH);
    const elapsed = (t - this.start) / 1000;
    const eta = done > 0 && done < total ? ` ETA ${formatDuration((elapsed * (total - done)) / done)}` : "";
    let line = `${this.label} [${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${done}/${total}${eta}`;
    if (detail) line += ` ${detail}`;
    const columns = this.stream.columns ?? 80;
    if (line.length > columns - 1) line = line.slice(0, columns - 1);
    this.stream.write(`\r\x1b[K${line}`);
    this.drawn = true;
  }

  /** Erases the bar, leaving the cursor at the start of an empty line. */
  clear(): void {
    if (this.drawn) this.stream.write("\r\x1b[K");
    this.drawn = false;
  }
}

/** "42s", "3m05s", "1h02m". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
