// Token embedding lookup: x[t] = E[token_t]; the backward scatters the rows' gradients back (a token
// seen twice gets both contributions).
import { TrainError } from "../../runtime/errors.ts";
import { type Vec, alloc, precisionOf } from "../tensor.ts";

export function embeddingForward(table: Vec, tokens: ArrayLike<number>, dim: number): Vec {
  const x = alloc(precisionOf(table), tokens.length * dim);
  for (let t = 0; t < tokens.length; t++) {
    const row = tokens[t]!;
    if (!Number.isInteger(row) || row < 0 || row * dim >= table.length)
      throw new TrainError("BAD_TOKEN", `token ${row} is outside the vocabulary of ${table.length / dim}`);
    for (let i = 0; i < dim; i++) x[t * dim + i] = table[row * dim + i]!;
  }
  return x;
}

export function embeddingBackward(dx: Vec, tokens: ArrayLike<number>, dim: number, dTable: Vec): void {
  for (let t = 0; t < tokens.length; t++) {
    const o = tokens[t]! * dim;
    for (let i = 0; i < dim; i++) dTable[o + i]! += dx[t * dim + i]!;
  }
}
