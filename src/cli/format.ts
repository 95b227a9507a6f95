// Plain-text formatting helpers for the CLI: aligned tables and human-readable sizes.

/** n bytes in the largest binary unit it reaches: [value, unit] ([n, "B"] below 1 KiB). */
function binaryUnit(n: number): [number, string] {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return [v, units[i]!];
}

/** Sizes in tables: "27.2 MiB", "466 KiB" (three significant figures). */
export function formatBytes(n: number): string {
  const [v, unit] = binaryUnit(n);
  return unit === "B" ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${unit}`;
}

/** Sizes that change as one watches (a download): "412.3 MiB", "1.19 GiB" — one decimal at least past bytes. */
export function formatSize(n: number): string {
  const [v, unit] = binaryUnit(n);
  return unit === "B" ? `${Math.round(n)} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${unit}`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

/** Renders rows as columns; `align[i] === "right"` right-aligns column i (numbers). */
export function formatTable(header: string[], rows: string[][], align: ("left" | "right")[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (align[i] === "right" ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
