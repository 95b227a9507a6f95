// `npm run bench:structured [-- --models default,700M --repetitions 5 --tokens N --threads N
// --cache ~/.cache/ternion-bench --json]`: decode tokens/s with and without a JSON-schema constraint on the same
// prompt, seed and sampling settings, on the CPU backend. Runs alternate (free, constrained, then constrained,
// free, …) so that a change in the machine's load hits both alike; each figure is the median (and the mean ±
// standard deviation) over the repetitions after one warm-up pair (which also builds the vocabulary's trie), the
// ratio is of the medians (a busy machine's outliers move means a lot), and the load average is printed before
// and after. The constrained run's schema forces a long string ({ "story": "…" } with minLength
// 1000), so both runs generate exactly `tokens` tokens (the free one ignores end-of-text) and the constraint
// is exercised on every token: a check per sampled token, a masked redraw whenever the model reaches for a
// character JSON does not allow there (a quote, a newline).
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
  const common: GenerateOptions = { maxTokens: tokens, seed: 1234, temperature: 0.8 };
  const run = async (constrained: boolean) => {
    const r = await generate(lm, PROMPT, constrained ? { ...common, jsonSchema: SCHEMA } : { ...common, ignoreEos: true });
    if (r.tokens.length !== tokens)
      throw new Error(`${name}: a ${constrained ? "constrained" : "free"} run generated ${r.tokens.length} of ${tokens} tokens`);
    return r.stats.decodeTokensPerSecond;
  };
  const loadBefore = loadavg()[0]!;
  await run(false);
  await run(true);
  const free: number[] = [];
  const constrained: number[] = [];
  for (let i = 0; i < repetitions; i++) {
    // Alternate which goes first, so that neither always follows the other.
    if (i % 2 === 0) {
      free.push(await run(false));
      constrained.push(await run(true));
    } else {
      constrained.push(await run(true));
      free.push(await run(false));
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
        `(load ${row.loadBefore.toFixed(2)} → ${row.loadAfter.toFixed(2)})`,
    );
  }
}
if (values.json) console.log(JSON.stringify(rows, null, 2));
