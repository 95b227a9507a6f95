// "Did you mean" for the CLI: the known name closest to a misspelled one (a flag, a command, a choice, a file),
// by edit distance, when it is close enough to be a typo rather than a different word.

/**
 * Edit distance with adjacent transpositions (optimal string alignment): insertions, deletions, substitutions
 * and swaps of two neighbouring characters each cost 1, so "--max-token" is 1 from "--max-tokens" and "chta" 1
 * from "chat".
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to `input` (case aside), or undefined when none is within a third of its length (at least
 * 1): "temprature" finds "temperature", "x" finds nothing among "model" and "prompt". Ties go to the earlier
 * candidate.
 */
export function closest(input: string, candidates: Iterable<string>): string | undefined {
  const typed = input.toLowerCase();
  const limit = Math.max(1, Math.floor(typed.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(typed, c.toLowerCase());
    if (d <= limit && d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** " (did you mean X?)" for the closest candidate, else "": appended to an error message. */
export function didYouMean(input: string, candidates: Iterable<string>, render: (name: string) => string = (n) => n): string {
  const match = closest(input, candidates);
  return match === undefined ? "" : ` (did you mean ${render(match)}?)`;
}
