// Learning rate: linear warm-up to `lr` over `warmup` steps, then a cosine decay to `minLr` at `steps`.
// Step indices are 0-based (the step about to be taken), so the first step already has a non-zero rate.
export interface CosineSchedule {
  lr: number;
  /** Total steps of the run. */
  steps: number;
  warmup?: number;
  /** Default 0.1·lr. */
  minLr?: number;
}

export function learningRate(s: CosineSchedule, step: number): number {
  const warmup = s.warmup ?? 0;
  const minLr = s.minLr ?? 0.1 * s.lr;
  if (step < warmup) return (s.lr * (step + 1)) / warmup;
  const span = Math.max(1, s.steps - warmup);
  const progress = Math.min(1, Math.max(0, (step - warmup) / span));
  return minLr + 0.5 * (s.lr - minLr) * (1 + Math.cos(Math.PI * progress));
}
