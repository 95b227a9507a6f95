// The loss curve of a run as a small self-contained SVG (no fonts or scripts loaded).
//
// Full schedule: the per-step loss and a moving average over it, on a log scale (it spans orders of magnitude).
// Blockwise schedule: each block has a loss of its own (its output against the teacher's), and a later block's
// loss is larger, so a single curve over the run climbs at every block change. The chart draws each block's
// phase as its own curve, relative to that block's first step (1 = where the block started, below 1 = better),
// with a legend that says so and one colour per block.
import { type BlockPhase, blockLosses } from "./blockwise-plan.ts";

const W = 640;
const H = 360;
const pad = { l: 64, r: 16, t: 32, b: 40 };

/** Colours of the blocks' curves, in turn (block l takes colour l mod the list's length). */
export const BLOCK_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
const x = (i: number, n: number) => pad.l + ((W - pad.l - pad.r) * i) / Math.max(1, n - 1);

export function lossCurveSvg(losses: readonly number[], title: string, plan?: readonly BlockPhase[]): string {
  const body = plan ? blockCurves(losses, plan) : runCurve(losses);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle">${esc(title)}</text>`,
    `<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="black"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="black"/>`,
    `<text x="${pad.l}" y="${H - pad.b + 16}">1</text>`,
    `<text x="${W - pad.r}" y="${H - pad.b + 16}" text-anchor="end">${losses.length}</text>`,
    `<text x="${(W + pad.l) / 2}" y="${H - 8}" text-anchor="middle">step</text>`,
    ...body,
    `</svg>`,
    "",
  ].join("\n");
}

/** One curve of the whole run (log scale) and its moving average. */
function runCurve(losses: readonly number[]): string[] {
  const finite = losses.filter((v) => Number.isFinite(v) && v > 0);
  const lo = finite.length ? Math.log10(Math.min(...finite)) : 0;
  const hi = finite.length ? Math.log10(Math.max(...finite)) : 1;
  const span = hi - lo || 1;
  const y = (v: number) => pad.t + ((H - pad.t - pad.b) * (hi - Math.log10(Math.max(v, 1e-30)))) / span;
  const path = (vs: readonly number[]) => vs.map((v, i) => `${i ? "L" : "M"}${x(i, losses.length).toFixed(1)},${y(v).toFixed(1)}`).join("");
  const window = Math.max(1, Math.round(losses.length / 25));
  const smooth = losses.map((_, i) => {
    const from = Math.max(0, i - window + 1);
    let s = 0;
    for (let j = from; j <= i; j++) s += losses[j]!;
    return s / (i - from + 1);
  });
  const ticks = [lo, (lo + hi) / 2, hi].map(
    (v) => `<text x="${pad.l - 6}" y="${y(10 ** v).toFixed(1)}" text-anchor="end" dominant-baseline="middle">${(10 ** v).toPrecision(3)}</text>`,
  );
  return [
    ...ticks,
    losses.length ? `<path d="${path(losses)}" fill="none" stroke="#9ab" stroke-width="1"/>` : "",
    losses.length ? `<path d="${path(smooth)}" fill="none" stroke="#c33" stroke-width="2"/>` : "",
  ];
}

/** Per block phase, its losses divided by its first step's (linear scale, 1 marked), and the legend. */
function blockCurves(losses: readonly number[], plan: readonly BlockPhase[]): string[] {
  const phases = plan.filter((p) => p.from < losses.length);
  const relative = phases.map((p) => losses.slice(p.from, p.from + p.steps).map((v) => v / losses[p.from]!));
  const all = relative.flat().filter(Number.isFinite);
  const lo = Math.min(1, ...all);
  const hi = Math.max(1, ...all);
  const span = hi - lo || 1;
  const y = (v: number) => pad.t + ((H - pad.t - pad.b) * (hi - v)) / span;
  const n = losses.length;
  const curves = phases.map((p, i) => {
    const colour = BLOCK_COLOURS[p.block % BLOCK_COLOURS.length]!;
    const pts = relative[i]!.map((v, j) => `${j ? "L" : "M"}${x(p.from + j, n).toFixed(1)},${y(v).toFixed(1)}`).join("");
    // A phase of one step is a point: a dot shows it.
    const dot = `<circle cx="${x(p.from, n).toFixed(1)}" cy="${y(1).toFixed(1)}" r="2.5" fill="${colour}"/>`;
    return `<path d="${pts}" class="block-curve" data-block="${p.block}" data-round="${p.round}" fill="none" stroke="${colour}" stroke-width="2"/>${dot}`;
  });
  const ticks = [lo, (lo + hi) / 2, hi].map(
    (v) => `<text x="${pad.l - 6}" y="${y(v).toFixed(1)}" text-anchor="end" dominant-baseline="middle">×${v.toPrecision(3)}</text>`,
  );
  const seen = [...new Set(phases.map((p) => p.block))];
  const changes = blockLosses(plan, losses);
  const legend = seen.map((b, i) => {
    const last = changes.filter((c) => c.block === b).at(-1)!;
    const change = `${last.change <= 0 ? "−" : "+"}${Math.abs(100 * last.change).toFixed(1)} %`;
    const ly = pad.t + 30 + 14 * i;
    return `<rect x="${W - pad.r - 150}" y="${ly - 8}" width="10" height="10" fill="${BLOCK_COLOURS[b % BLOCK_COLOURS.length]}"/><text x="${W - pad.r - 135}" y="${ly}">block ${b}: ${change}</text>`;
  });
  return [
    ...ticks,
    `<line x1="${pad.l}" y1="${y(1).toFixed(1)}" x2="${W - pad.r}" y2="${y(1).toFixed(1)}" stroke="#aaa" stroke-dasharray="4 3"/>`,
    `<text class="legend" x="${pad.l + 6}" y="${pad.t + 12}">loss ÷ its block's loss at the block's first step (each block has its own loss; 1 = start)</text>`,
    ...curves,
    ...legend,
  ];
}
