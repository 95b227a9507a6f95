// The blockwise schedule's plan: which run steps train which block. A run is one or more rounds (a first pass
// over blocks 0 … L−1, and one more pass per extension of a finished run, finetune-run.ts); each round shares
// its steps out over the blocks, the first blocks getting the remainder. Progress, the loss summary and the
// loss curve read the plan, so that a step's loss is always compared with the losses of its own block.

/** Steps of block l when `steps` are shared out over `layers` blocks (the first blocks get the remainder). */
export function blockSteps(steps: number, layers: number, l: number): number {
  return Math.floor(steps / layers) + (l < steps % layers ? 1 : 0);
}

/** One block's phase of one round: run steps [from, from + steps). */
export interface BlockPhase {
  round: number;
  block: number;
  /** The run step (0-based) of the phase's first step. */
  from: number;
  steps: number;
}

/** The phases with at least one step, in run order, of rounds of `rounds[i]` steps over `layers` blocks. */
export function blockwisePlan(rounds: readonly number[], layers: number): BlockPhase[] {
  const phases: BlockPhase[] = [];
  let from = 0;
  for (const [round, steps] of rounds.entries()) {
    for (let block = 0; block < layers; block++) {
      const n = blockSteps(steps, layers, block);
      if (n > 0) phases.push({ round, block, from, steps: n });
      from += n;
    }
  }
  return phases;
}

/** The phase that run step `step` (0-based) belongs to. */
export function phaseOfStep(plan: readonly BlockPhase[], step: number): BlockPhase {
  const phase = plan.find((p) => step >= p.from && step < p.from + p.steps);
  if (!phase) throw new RangeError(`run step ${step} is outside the plan`);
  return phase;
}

/** How a phase's loss moved: its first step's loss (before any update of the block) and its last step's. */
export interface BlockLoss {
  round: number;
  block: number;
  /** Steps of the phase run so far, and planned. */
  stepsDone: number;
  steps: number;
  startLoss: number;
  endLoss: number;
  /** endLoss / startLoss − 1: −0.3 is 30 % lower than at the block's start. */
  change: number;
}

/** Per phase started, its start and latest loss (losses[i] is run step i's). */
export function blockLosses(plan: readonly BlockPhase[], losses: readonly number[]): BlockLoss[] {
  return plan
    .filter((p) => p.from < losses.length)
    .map((p) => {
      const stepsDone = Math.min(p.steps, losses.length - p.from);
      const startLoss = losses[p.from]!;
      const endLoss = losses[p.from + stepsDone - 1]!;
      return { round: p.round, block: p.block, stepsDone, steps: p.steps, startLoss, endLoss, change: endLoss / startLoss - 1 };
    });
}
