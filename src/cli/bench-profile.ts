// `ternion bench --profile`: where the time of a decode step (and of prefill) goes, op by op, on the wasm CPU
// backend. The model runs a prompt of token ids, then decodes greedily token by token; every op's wall time is
// summed over the steps (runtime/cpu/step-profile.ts) and divided by the tokens, and the median of the
// repetitions is reported. "sampling" is the finiteness check and argmax the engine runs on each token's
// logits; "other" is the rest of the step (the embedding row, JS between the ops, the logits copy). The clock is
// the wall clock, or (clock "cpu", one thread only) the process's CPU time, which on a shared machine leaves out the
// time other processes hold the core.
import { CpuModel } from "../runtime/cpu/model.ts";
import type { HeadType } from "../runtime/cpu/weights.ts";
import type { KvType } from "../runtime/cpu/attention.ts";
import { type Clock, STEP_OPS, StepProfile, wallClock } from "../runtime/cpu/step-profile.ts";
import { checkFiniteLogits } from "../runtime/sampling/finite-logits.ts";
import { argmax } from "../runtime/sampling/select.ts";
import { formatTable } from "./format.ts";
import { openModelReference } from "./model-reference.ts";

export interface ProfileSettings {
  promptTokens: number;
  genTokens: number;
  threadCounts: (number | undefined)[];
  repetitions: number;
  /** "cpu": the process's CPU time (one thread only: workers' time, spinning included, would count too). */
  clock: "wall" | "cpu";
  /** The output head (CpuModelOptions.headType; default "stored"). */
  headType?: HeadType;
  /** The KV cache (CpuModelOptions.kvType; default "f16"). */
  kvType?: KvType;
  /** Called after each run (a prefill and its decode) of the total. */
  onRun?: (done: number, total: number) => void;
}

export interface ProfileRow {
  threads: number;
  simd: string;
  /** "prefill": per prompt token; "decode": per generated token, at positions promptTokens … + genTokens − 1. */
  phase: "prefill" | "decode";
  op: string;
  /** Median over the repetitions. */
  msPerToken: number;
  /** msPerToken / the step's msPerToken. */
  share: number;
}

const cpuClock: Clock = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const SAMPLING = "sampling";
const OTHER = "other";
const STEP = "step";

/** One repetition's ms per token, by op name (STEP_OPS, sampling, other, step). */
type Times = Map<string, number>;

export async function profileSteps(ref: string, s: ProfileSettings): Promise<ProfileRow[]> {
  const rows: ProfileRow[] = [];
  const runs = s.threadCounts.length * (s.repetitions + 1);
  let done = 0;
  for (const threads of s.threadCounts) {
    const opened = await openModelReference(ref);
    let model: CpuModel;
    try {
      model = await CpuModel.load(opened.source, {
        threads,
        header: opened.header,
        contextLength: s.promptTokens + s.genTokens,
        headType: s.headType,
        kvType: s.kvType,
      });
    } finally {
      await opened.close();
    }
    try {
      const vocab = model.config.vocabSize;
      // spread-out ids, the same every run (a synthetic model has no text to tokenize)
      const prompt = Array.from({ length: s.promptTokens }, (_, i) => (i * 7919 + 17) % vocab);
      const prefill: Times[] = [];
      const decode: Times[] = [];
      for (let r = 0; r <= s.repetitions; r++) {
        const one = profileRun(model, prompt, s.genTokens, s.clock === "cpu" ? cpuClock : wallClock);
        // run 0 warms up: JIT, first-touch memory
        if (r > 0) {
          prefill.push(one.prefill);
          decode.push(one.decode);
        }
        s.onRun?.(++done, runs);
      }
      const k = model.stats();
      rows.push(...medianRows(prefill, "prefill", k.threads, k.simd), ...medianRows(decode, "decode", k.threads, k.simd));
    } finally {
      model.dispose();
    }
  }
  return rows;
}

/** A prefill of `prompt` and `gen` greedy decode steps from an empty sequence, each profiled. */
function profileRun(model: CpuModel, prompt: number[], gen: number, now: Clock): { prefill: Times; decode: Times } {
  const p = new StepProfile(now);
  model.reset();
  model.setProfile(p);
  try {
    let t0 = now();
    let logits = model.eval(prompt)!;
    let t1 = now();
    checkFiniteLogits(logits);
    let next = argmax(logits);
    let sampling = now() - t1;
    const prefill = times(p, now() - t0, sampling, prompt.length);
    p.reset();
    let total = 0;
    sampling = 0;
    for (let i = 0; i < gen; i++) {
      t0 = now();
      logits = model.eval([next])!;
      t1 = now();
      checkFiniteLogits(logits);
      next = argmax(logits);
      const t2 = now();
      sampling += t2 - t1;
      total += t2 - t0;
    }
    return { prefill, decode: times(p, total, sampling, gen) };
  } finally {
    model.setProfile(undefined);
  }
}

function times(p: StepProfile, totalMs: number, samplingMs: number, tokens: number): Times {
  const t: Times = new Map();
  let ops = 0;
  STEP_OPS.forEach((name, i) => {
    t.set(name, p.ms[i]! / tokens);
    ops += p.ms[i]!;
  });
  t.set(SAMPLING, samplingMs / tokens);
  t.set(OTHER, Math.max(0, totalMs - ops - samplingMs) / tokens);
  t.set(STEP, totalMs / tokens);
  return t;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function medianRows(reps: Times[], phase: ProfileRow["phase"], threads: number, simd: string): ProfileRow[] {
  const names = [...reps[0]!.keys()];
  const step = median(reps.map((t) => t.get(STEP)!));
  return names.map((op) => {
    const ms = op === STEP ? step : median(reps.map((t) => t.get(op)!));
    return { threads, simd, phase, op, msPerToken: ms, share: ms / step };
  });
}

/** The rows as one table per phase: an op per line, ms per token and % of the step per thread count. */
export function formatProfile(rows: ProfileRow[], s: Pick<ProfileSettings, "promptTokens" | "genTokens" | "repetitions" | "clock">): string {
  const threads = [...new Set(rows.map((r) => r.threads))];
  const out: string[] = [];
  const unit = s.clock === "cpu" ? "CPU ms" : "ms";
  for (const phase of ["decode", "prefill"] as const) {
    const title =
      phase === "decode"
        ? `decode, positions ${s.promptTokens}–${s.promptTokens + s.genTokens - 1}: ${unit} per token (median of ${s.repetitions})`
        : `prefill, ${s.promptTokens} tokens: ${unit} per token (median of ${s.repetitions})`;
    const ops = [...new Set(rows.filter((r) => r.phase === phase).map((r) => r.op))];
    const cell = (op: string, t: number) => rows.find((r) => r.phase === phase && r.op === op && r.threads === t);
    const table = formatTable(
      ["op", ...threads.flatMap((t) => [`${t} thr ms`, "%"])],
      ops.map((op) => [
        op,
        ...threads.flatMap((t) => {
          const r = cell(op, t);
          return r ? [r.msPerToken.toFixed(3), (100 * r.share).toFixed(1)] : ["-", "-"];
        }),
      ]),
      ["left", ...threads.flatMap(() => ["right", "right"] as const)],
    );
    out.push(title, table);
  }
  return out.join("\n\n");
}
