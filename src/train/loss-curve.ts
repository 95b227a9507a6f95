// The loss curve of a run as a small self-contained SVG (no fonts or scripts loaded): the per-step loss,
// a moving average over it, and axis labels, with the loss on a log scale (it spans orders of magnitude).
export function lossCurveSvg(losses: readonly number[], title: string): string {
  const W = 640;
  const H = 360;
  const pad = { l: 64, r: 16, t: 32, b: 40 };
  const finite = losses.filter((x) => Number.isFinite(x) && x > 0);
  const lo = finite.length ? Math.log10(Math.min(...finite)) : 0;
  const hi = finite.length ? Math.log10(Math.max(...finite)) : 1;
  const span = hi - lo || 1;
  const x = (i: number) => pad.l + ((W - pad.l - pad.r) * i) / Math.max(1, losses.length - 1);
  const y = (v: number) => pad.t + ((H - pad.t - pad.b) * (hi - Math.log10(Math.max(v, 1e-30)))) / span;
  const path = (vs: readonly number[]) => vs.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
  const window = Math.max(1, Math.round(losses.length / 25));
  const smooth = losses.map((_, i) => {
    const from = Math.max(0, i - window + 1);
    let s = 0;
    for (let j = from; j <= i; j++) s += losses[j]!;
    return s / (i - from + 1);
  });
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const ticks = [lo, (lo + hi) / 2, hi]
    .map((v) => `<text x="${pad.l - 6}" y="${y(10 ** v).toFixed(1)}" text-anchor="end" dominant-baseline="middle">${(10 ** v).toPrecision(3)}</text>`)
    .join("");
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle">${esc(title)}</text>`,
    `<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="black"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="black"/>`,
    ticks,
    `<text x="${pad.l}" y="${H - pad.b + 16}">1</text>`,
    `<text x="${W - pad.r}" y="${H - pad.b + 16}" text-anchor="end">${losses.length}</text>`,
    `<text x="${(W + pad.l) / 2}" y="${H - 8}" text-anchor="middle">step</text>`,
    losses.length ? `<path d="${path(losses)}" fill="none" stroke="#9ab" stroke-width="1"/>` : "",
    losses.length ? `<path d="${path(smooth)}" fill="none" stroke="#c33" stroke-width="2"/>` : "",
    `</svg>`,
    "",
  ].join("\n");
}
