// Where the time of a forward pass goes, op by op (`ternion bench --profile`). The forward pass reads the clock
// only when a profile is attached, so an unprofiled step pays one branch per op and no clock reads.

/** The ops a step is split into, in table order. Matvecs by the role of their weights. */
export const STEP_OPS = [
  "matmul q/k/v",
  "matmul o",
  "matmul gate/up",
  "matmul down",
  "activation quant",
  "output head",
  "attention",
  "kv store",
  "norms",
  "rope",
  "glu",
  "residual add",
] as const;

export type StepOp = (typeof STEP_OPS)[number];

/** Index of each op in StepProfile.ms. */
export const OP = Object.fromEntries(STEP_OPS.map((name, i) => [name, i])) as Record<StepOp, number>;

/** A clock in milliseconds. */
export type Clock = () => number;

export const wallClock: Clock = () => performance.now();

/** Milliseconds per op summed over the steps it saw, and how many tokens those steps ran. */
export class StepProfile {
  readonly ms = new Float64Array(STEP_OPS.length);
  tokens = 0;

  /** clock: the wall clock by default; a CPU-time clock for one thread on a busy machine. */
  constructor(readonly now: Clock = wallClock) {}

  /** Adds the time from `since` to now to op `op` (an OP index); returns now, the next op's start. */
  lap(op: number, since: number): number {
    const now = this.now();
    this.ms[op]! += now - since;
    return now;
  }

  reset(): void {
    this.ms.fill(0);
    this.tokens = 0;
  }
}
