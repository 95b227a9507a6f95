// The distinct bytes of a source read so far. Loading reads some bytes twice (the header's chunks run into the
// tensor data; a tied output matrix is the embedding read again), so a sum of read lengths overstates progress
// and repeats itself once it reaches the size; the union of the ranges read does neither.

export class ReadCoverage {
  /** Disjoint, sorted, non-adjacent [start, end) ranges. */
  private ranges: [number, number][] = [];
  /** Bytes covered by `ranges`. */
  covered = 0;

  /** Adds [start, end); returns whether it covered a byte not read before. */
  add(start: number, end: number): boolean {
    if (end <= start) return false;
    const before = this.covered;
    const kept: [number, number][] = [];
    let s = start;
    let e = end;
    for (const r of this.ranges) {
      if (r[1] < s || r[0] > e) kept.push(r);
      else {
        s = Math.min(s, r[0]);
        e = Math.max(e, r[1]);
        this.covered -= r[1] - r[0];
      }
    }
    this.covered += e - s;
    kept.push([s, e]);
    kept.sort((a, b) => a[0] - b[0]);
    this.ranges = kept;
    return this.covered > before;
  }
}
