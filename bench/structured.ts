// `npm run bench:structured [-- --models default,700M --repetitions 5 --tokens N --threads N
// --cache ~/.cache/ternion-bench --json]`: decode tokens/s with and without a JSON-schema constraint on the same
// prompt, seed and sampling settings, on the CPU backend. Runs alternate (free, constrained, then constrained,
// free, …) so that a change in the machine's load hits both alike; each figure is the median (and the mean ±
// standard deviation) over the repetitions after one warm-up pair (which also builds the vocabulary's trie), the
// ratio is of the medians (a busy machine's outliers move means a lot), and the load average is printed before
// and after. The same ratio by the process's CPU time per token (which other jobs move less than the wall clock)
// and the time spent inside the constraint itself are printed too. The constrained run's schema forces a long string ({ "story": "…" } with minLength
// 1000), so both runs generate exactly `tokens` tokens (the free one ignores end-of-text) and the constraint
// is exercised on every token: a check per sampled token, a masked redraw whenever the model reaches for a
// character JSON does not allow there (a quote, a newline). Also printed: the time to build the vocabulary's
// bytes and trie (once per tokenizer) and the median time of one whole-vocabulary mask inside the string.
// Models: "default" (models/stories260K-ternary.gguf, the packaged one) and "700M" (the synthetic BitNet b1.58
// 700M-shaped TQ2_0 model of bench/decode.ts, 32k vocabulary, generated once into the cache).
import { homedir, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { generate, type GenerateOptions } from "../src/engine/generate.ts";
import { CpuLanguageModel } from "../src/runtime/cpu/language-model.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { BITNET_700M } from "../test/helpers/synthetic-model.ts";
import { ensureSyntheticModel } from "./synthetic-models.ts";
import { constraintGrammar } from "../src/runtime/grammar/constraint-options.ts";
import { TokenConstraint } from "../src/runtime/grammar/token-constraint.ts";
import { TokenVocabulary } from "../src/runtime/grammar/token-vocabulary.ts";
import { VocabularyGrammar } from "../src/runtime/grammar/vocabulary-grammar.ts";
import type { Tokenizer } from "../src/runtime/tokenizer/types.ts";

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "default,700M" },
    repetitions: { type: "string", default: "9" },
    tokens: { type: "string" },
    threads: { type: "string" },
    cache: { type: "string", default: join(homedir(), ".cache", "ternion-bench") },
    json: { type: "boolean", default: false },
    wasm: { type: "string" }, // passed by scripts/bench-kernels.mjs
  },
  strict: true,
});

const root = resolve(import.meta.dirname, "..");
/** Tokens per run by model (the 700M shape decodes ≈ 100× slower). */
const DEFAULT_TOKENS: Record<string, number> = { default: 256, "700M": 24 };
const SCHEMA = {
  type: "object",
  properties: { story: { type: "string", minLength: 1000 } },
  required: ["story"],
  additionalProperties: false,
};
const PROMPT = "Once upon a time";

interface Row {
  model: string;
  tokens: number;
  repetitions: number;
  freeMedian: number;
  freeMean: number;
  freeSd: number;
  constrainedMedian: number;
  constrainedMean: number;
  constrainedSd: number;
  ratio: number;
  /** Building the vocabulary's bytes and trie (once per tokenizer), and one mask of it inside a JSON string. */
  vocabularyMs: number;
  maskMs: number;
  /** Time inside the constraint (checks, accepts, masks) per generated token, and as a share of a constrained step. */
  constraintUsPerToken: number;
  constraintShare: number;
  /** The process's CPU time per generated token (all its threads; less moved by other jobs than the wall clock). */
  cpuMsPerTokenFree: number;
  cpuMsPerTokenConstrained: number;
  /** Free over constrained CPU time per token: the speed ratio by CPU time. */
  cpuRatio: number;
  loadBefore: number;
  loadAfter: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

async function modelPath(name: string): Promise<string> {
  if (name === "default") return join(root, "models/stories260K-ternary.gguf");
  if (name === "700M") return ensureSyntheticModel(values.cache!, BITNET_700M);
  throw new Error(`unknown model ${name} (default or 700M)`);
}

// Time spent inside the constraint's methods, summed: the direct measure of its cost, which the tokens/s ratio
// (moved by the machine's load) can only estimate.
const constraintTime = { ms: 0 };
for (const method of ["allows", "accept", "mask"] as const) {
  const original = TokenConstraint.prototype[method] as (this: TokenConstraint, ...args: never[]) => unknown;
  Object.defineProperty(TokenConstraint.prototype, method, {
    value(this: TokenConstraint, ...args: never[]) {
      const t = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        constraintTime.ms += performance.now() - t;
      }
    },
  });
}

/** Median time of one mask over the whole vocabulary in the middle of the schema's string (most tokens allowed). */
function timeMask(tokenizer: Tokenizer): number {
  const vocabulary = TokenVocabulary.of(tokenizer);
  const logits = new Float32Array(vocabulary.size);
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    // A grammar of its own each time (not the one kept with the vocabulary, whose masks are kept): the walk itself.
    const constraint = new TokenConstraint(new VocabularyGrammar(constraintGrammar({ jsonSchema: SCHEMA })!, vocabulary));
    for (const byte of new TextEncoder().encode('{"story":"Once')) {
      const id = vocabulary.pieces.findIndex((p) => p.length === 1 && p[0] === byte);
      if (id < 0) throw new Error(`no token spells the byte ${byte}`);
      constraint.accept(id);
    }
    const t = performance.now();
    constraint.mask(logits);
    times.push(performance.now() - t);
  }
  return median(times);
}

async function benchModel(name: string): Promise<Row> {
  const tokens = Number(values.tokens ?? DEFAULT_TOKENS[name]);
  const repetitions = Number(values.repetitions);
  const source = await openFileSource(await modelPath(name));
  const lm = await CpuLanguageModel.load(source, {
    threads: values.threads ? Number(values.threads) : undefined,
    contextLength: 64 + tokens,
    wasm: values.wasm ? { baseUrl: new URL(`file://${values.wasm}/`) } : undefined,
  });
  await source.close();
  const t0 = performance.now();
  TokenVocabulary.of(lm.tokenizer);
  const vocabularyMs = performance.now() - t0;
  const maskMs = timeMask(lm.tokenizer);
  const common: GenerateOptions = { maxTokens: tokens, temperature: 0.8 };
  // Each pair has a seed of its own (the free and the constrained run share it): a repeated seed would repeat
  // the constrained text, whose grammar states and masks the kept grammar already holds.
  const run = async (constrained: boolean, seed: number) => {
    const before = { ...constraintTime };
    const cpu0 = process.cpuUsage();
    const r = await generate(lm, PROMPT, constrained ? { ...common, seed, jsonSchema: SCHEMA } : { ...common, seed, ignoreEos: true });
    if (r.tokens.length !== tokens)
      throw new Error(`${name}: a ${constrained ? "constrained" : "free"} run generated ${r.tokens.length} of ${tokens} tokens`);
    const cpu = process.cpuUsage(cpu0);
    (constrained ? cpuConstrained : cpuFree).push((cpu.user + cpu.system) / 1000 / r.tokens.length);
    if (constrained) {
      inConstraint.push((constraintTime.ms - before.ms) / r.tokens.length);
      stepMs.push(1000 / r.stats.decodeTokensPerSecond);
    }
    return r.stats.decodeTokensPerSecond;
  };
  const inConstraint: number[] = [];
  const stepMs: number[] = [];
  const cpuFree: number[] = [];
  const cpuConstrained: number[] = [];
  const loadBefore = loadavg()[0]!;
  await run(false, 0);
  await run(true, 0);
  inConstraint.length = 0;
  stepMs.length = 0;
  cpuFree.length = 0;
  cpuConstrained.length = 0;
  const free: number[] = [];
  const constrained: number[] = [];
  for (let i = 0; i < repetitions; i++) {
    // Alternate which goes first, so that neither always follows the other.
    if (i % 2 === 0) {
      free.push(await run(false, i + 1));
      constrained.push(await run(true, i + 1));
    } else {
      constrained.push(await run(true, i + 1));
      free.push(await run(false, i + 1));
    }
  }
  lm.dispose();
  return {
    model: name,
    tokens,
    repetitions,
    freeMedian: median(free),
    freeMean: mean(free),
    freeSd: sd(free),
    constrainedMedian: median(constrained),
    constrainedMean: mean(constrained),
    constrainedSd: sd(constrained),
    ratio: median(constrained) / median(free),
    vocabularyMs,
    maskMs,
    constraintUsPerToken: median(inConstraint) * 1000,
    constraintShare: median(inConstraint) / median(stepMs),
    cpuMsPerTokenFree: median(cpuFree),
    cpuMsPerTokenConstrained: median(cpuConstrained),
    cpuRatio: median(cpuFree) / median(cpuConstrained),
    loadBefore,
    loadAfter: loadavg()[0]!,
  };
}

const rows: Row[] = [];
for (const name of values.models!.split(",")) {
  const row = await benchModel(name);
  rows.push(row);
  if (!values.json) {
    const f = (x: number) => x.toFixed(1);
    console.log(
      `${row.model.padEnd(8)} ${row.tokens} tokens × ${row.repetitions}: free ${f(row.freeMedian)} tok/s (${f(row.freeMean)} ± ${f(row.freeSd)}), ` +
        `constrained ${f(row.constrainedMedian)} tok/s (${f(row.constrainedMean)} ± ${f(row.constrainedSd)}), ratio ${(row.ratio * 100).toFixed(1)} % ` +
        `(load ${row.loadBefore.toFixed(2)} → ${row.loadAfter.toFixed(2)}); CPU time per token ${row.cpuMsPerTokenFree.toFixed(3)} vs ${row.cpuMsPerTokenConstrained.toFixed(3)} ms, ratio ${(row.cpuRatio * 100).toFixed(1)} %` +
        `; in the constraint ${f(row.constraintUsPerToken)} µs per token ` +
        `(${(row.constraintShare * 100).toFixed(2)} % of a step); vocabulary trie ${f(row.vocabularyMs)} ms once, a whole mask ${row.maskMs.toFixed(2)} ms`,
    );
  }
}
if (values.json) console.log(JSON.stringify(rows, null, 2));
