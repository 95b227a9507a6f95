// The figures of bench/decode.ts's rounds, summarised per (model, threads, engine, file): median and min–max
// over the rounds, and the side-by-side markdown table with its load averages.
import type { BenchRun, DecodeFrom } from "./decode-options.ts";

export interface RunResult extends BenchRun {
  round: number;
  decodeFrom: DecodeFrom;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  /** Peak resident memory of the run's process; undefined where it could not be read. */
  peakRssMb: number | undefined;
}

/** The 1-minute load average just before and just after a round. */
export interface RoundLoad {
  round: number;
  before: number;
  after: number;
}

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

export interface SummaryRow extends BenchRun {
  decodeFrom: DecodeFrom;
  prefill: Stat;
  decode: Stat;
  peakRssMb: number | undefined;
}

export function stat(values: readonly number[]): Stat {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n };
  const median = n % 2 ? s[n >> 1]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  return { median, min: s[0]!, max: s[n - 1]!, n };
}

const keyOf = (r: BenchRun & { decodeFrom: DecodeFrom }) => `${r.model}|${r.threads}|${r.engine}|${r.format}|${r.decodeFrom}`;

/** One row per (model, threads, engine, format, decode start), in the order the runs first appear. */
export function summarize(results: readonly RunResult[]): SummaryRow[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const key = keyOf(r);
    const group = groups.get(key);
    if (group) group.push(r);
    else groups.set(key, [r]);
  }
  return [...groups.values()].map((g) => {
    const first = g[0]!;
    const rss = g.map((r) => r.peakRssMb).filter((v): v is number => v !== undefined);
    return {
      model: first.model,
      threads: first.threads,
      engine: first.engine,
      format: first.format,
      decodeFrom: first.decodeFrom,
      prefill: stat(g.map((r) => r.prefillTokensPerSecond)),
      decode: stat(g.map((r) => r.decodeTokensPerSecond)),
      peakRssMb: rss.length ? Math.max(...rss) : undefined,
    };
  });
}

/** "45.0 (40.1–47.2)": median and range; the median alone for a single round. */
export function formatStat(s: Stat, digits = 1): string {
  if (s.n === 0) return "—";
  const m = s.median.toFixed(digits);
  return s.n === 1 ? m : `${m} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

/** The positions a row's decode figure covers. */
export function decodePositions(decodeFrom: DecodeFrom, prefill: number, decode: number): string {
  // after a prompt, the first generated token ends the prefill; the D − 1 after it are timed
  return decodeFrom === "0" ? `${0}–${decode - 1} (tg${decode})` : `${prefill}–${prefill + decode - 2} (after the prompt)`;
}

/** ternion's median on the same model, threads, file and decode start, over this row's: "×0.46 / ×0.53". */
export function ternionRatio(row: SummaryRow, rows: readonly SummaryRow[]): string {
  if (row.engine === "ternion") return "";
  const ours = rows.find(
    (r) => r.engine === "ternion" && r.model === row.model && r.threads === row.threads && r.format === row.format && r.decodeFrom === row.decodeFrom,
  );
  if (!ours) return "—";
  return `×${(ours.prefill.median / row.prefill.median).toFixed(2)} / ×${(ours.decode.median / row.decode.median).toFixed(2)}`;
}

export interface TableContext {
  prefill: number;
  decode: number;
  loads: readonly RoundLoad[];
  /** The command line that produced the table, printed above it. */
  command: string;
}

/** The side-by-side markdown table: a line with the command, the table, then the rounds' load averages. */
export function markdownTable(rows: readonly SummaryRow[], ctx: TableContext): string {
  const rounds = Math.max(0, ...rows.map((r) => r.prefill.n));
  const lines = [
    `\`${ctx.command}\` — ${rounds} round${rounds === 1 ? "" : "s"}, each run in a fresh process; tokens/s, median (min–max) over the rounds`,
    "",
    `| model | threads | engine | file | prefill pp${ctx.prefill} tok/s | decode tok/s | decode positions | ternion (same file) ÷ this, prefill / decode | peak RSS MB |`,
    "|---|---:|---|---|---:|---:|---|---|---:|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.model} | ${r.threads} | ${r.engine} | ${r.format.toUpperCase()} | ${formatStat(r.prefill)} | ${formatStat(r.decode, 2)} | ` +
        `${decodePositions(r.decodeFrom, ctx.prefill, ctx.decode)} | ${ternionRatio(r, rows)} | ${r.peakRssMb === undefined ? "—" : r.peakRssMb.toFixed(0)} |`,
    );
  }
  if (rows.some((r) => r.engine === "llama.cpp") && rows.some((r) => r.format === "i2_s")) {
    lines.push("", "llama.cpp (node-llama-cpp, mainline ggml) has no I2_S: it runs the TQ2_0 files only.");
  }
  if (ctx.loads.length) {
    lines.push(
      "",
      `Load average (1 min) before → after each round: ${ctx.loads.map((l) => `${l.before.toFixed(2)} → ${l.after.toFixed(2)}`).join(", ")}.`,
    );
  }
  return lines.join("\n");
}
