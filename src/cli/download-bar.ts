// The progress line of a download on stderr: `tiny.gguf  37%  412.3 MiB / 1.19 GiB 12.4 MiB/s ETA 1m02s`. It
// draws only on a terminal and fits the terminal's width by leaving out whole parts (the file name first, then
// the percentage, the ETA, the rate), never by cutting a word.
import type { DownloadProgress } from "../runtime/hub/download-node.ts";
import { formatSize } from "./format.ts";
import { formatDuration, type ProgressStream } from "./progress.ts";

const REDRAW_MS = 100;

/** The parts of the line, in the order they are shown, each with the rank in which it is kept (0 first). */
function parts(name: string, p: DownloadProgress): { text: string; keep: number }[] {
  const amount = p.total > 0 ? `${formatSize(p.loaded)} / ${formatSize(p.total)}` : formatSize(p.loaded);
  const result = [{ text: name, keep: 4 }];
  if (p.total > 0) result.push({ text: `${Math.floor((100 * p.loaded) / p.total)}%`, keep: 3 });
  result.push({ text: amount, keep: 0 }, { text: `${formatSize(p.bytesPerSecond)}/s`, keep: 1 });
  if (p.etaSeconds !== undefined && p.loaded < p.total) result.push({ text: `ETA ${formatDuration(p.etaSeconds)}`, keep: 2 });
  return result;
}

/** The line for `p` in at most `columns - 1` characters (the amount is kept even when it alone is longer). */
export function downloadLine(name: string, p: DownloadProgress, columns: number): string {
  const all = parts(name, p);
  const kept = new Set<number>();
  let width = -1;
  for (const rank of [0, 1, 2, 3, 4]) {
    const i = all.findIndex((x) => x.keep === rank);
    if (i < 0) continue;
    const next = width + 1 + all[i]!.text.length;
    if (rank > 0 && next > columns - 1) break;
    kept.add(i);
    width = next;
  }
  return all
    .filter((_, i) => kept.has(i))
    .map((x) => x.text)
    .join(" ");
}

export class DownloadBar {
  private lastDraw = -Infinity;
  private drawn = false;

  constructor(
    private readonly name: string,
    private readonly stream: ProgressStream = process.stderr,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get active(): boolean {
    return this.stream.isTTY === true;
  }

  update(p: DownloadProgress): void {
    if (!this.active) return;
    const t = this.now();
    if ((p.total === 0 || p.loaded < p.total) && t - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = t;
    this.stream.write(`\r\x1b[K${downloadLine(this.name, p, this.stream.columns ?? 80)}`);
    this.drawn = true;
  }

  clear(): void {
    if (this.drawn) this.stream.write("\r\x1b[K");
    this.drawn = false;
  }
}
