// Data-free distillation data: text sampled from the float teacher itself (docs/ARCHITECTURE.md section 4), so that a
// model can be fine-tuned without any corpus. Sequences start at BOS and run until EOS or `maxLength`
// tokens; tokens are drawn from softmax(logits / temperature) with the run's seeded Xoshiro128, so the
// same seed gives the same stream (a resumed run regenerates it bit for bit). Sampling runs on the
// inference engine (KV cache), not the training forward, which would recompute every prefix.
import { CpuModel } from "../runtime/cpu/model.ts";
import { OptionError } from "../runtime/errors.ts";
import type { ByteSource } from "../runtime/gguf/source.ts";
import type { GgufHeader } from "../runtime/gguf/types.ts";
import { Xoshiro128 } from "../runtime/sampling/prng.ts";

export interface DataFreeOptions {
  /** Tokens of stream to produce. */
  tokens: number;
  seed: number;
  /** Longest sequence (default: min(256, the model's context)). */
  maxLength?: number;
  temperature?: number;
  threads?: number;
  signal?: AbortSignal;
  /** The teacher's header when it is read already (a split model's, merged). */
  header?: GgufHeader;
}

export async function sampleTeacherStream(teacher: ByteSource, o: DataFreeOptions): Promise<Int32Array> {
  const model = await CpuModel.load(teacher, {
    header: o.header,
    kvType: "f32",
    threads: o.threads ?? 1,
    contextLength: (config) => Math.min(o.maxLength ?? 256, config.contextLength),
  });
  try {
    const rng = new Xoshiro128(o.seed);
    const { bos, eos } = model.tokenizer;
    const start = bos ?? 1;
    const temperature = o.temperature ?? 1;
    const out = new Int32Array(o.tokens);
    let n = 0;
    while (n < out.length) {
      if (o.signal?.aborted) throw new OptionError("ABORTED", "data-free sampling was aborted");
      model.reset();
      out[n++] = start;
      let logits = model.eval([start]);
      while (n < out.length && model.position < model.contextLength) {
        const next = sampleSoftmax(logits!, temperature, rng);
        out[n++] = next;
        if (next === eos) break;
        logits = model.eval([next]);
      }
    }
    return out;
  } finally {
    model.dispose();
  }
}

/** A token drawn from softmax(logits / temperature) by inverse CDF, sums in f64 in index order. */
function sampleSoftmax(logits: Float32Array, temperature: number, rng: Xoshiro128): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i]! - max) / temperature);
  let u = rng.nextFloat() * sum;
  for (let i = 0; i < logits.length; i++) {
    u -= Math.exp((logits[i]! - max) / temperature);
    if (u < 0) return i;
  }
  return logits.length - 1;
}
