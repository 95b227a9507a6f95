// The chat-template fuzzer: random templates from a small Jinja grammar (test/hostile/template-grammar.ts),
// rendered under the default budget with stories260K's tokenizer. Each must parse or be refused at load with
// BAD_CHAT_TEMPLATE, and each render must end within the time budget (and a margin for one last step) with
// text no longer than the output budget, or with BAD_CHAT_TEMPLATE: never another error, a hang or a blow-up.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHAT_TEMPLATE_KEY, ChatTemplate } from "../src/engine/chat-template.ts";
import { DEFAULT_TEMPLATE_BUDGET } from "../src/engine/template-budget.ts";
import { TernionError } from "../src/runtime/errors.ts";
import type { GgufMetadata } from "../src/runtime/gguf/metadata.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { GgufValueType } from "../src/runtime/gguf/types.ts";
import { tokenizerFromGguf } from "../src/runtime/tokenizer/index.ts";
import type { Tokenizer } from "../src/runtime/tokenizer/types.ts";
import { templateArbitrary } from "./hostile/template-grammar.ts";
import { sharedPath } from "./helpers/shared.ts";

let metadata: GgufMetadata;
let tokenizer: Tokenizer;
const stats = { runs: 0, rendered: 0, refused: new Map<string, number>(), worstMs: 0 };

beforeAll(async () => {
  const source = await openFileSource(sharedPath("models/stories260K.gguf"));
  try {
    metadata = (await readGgufHeader(source)).metadata;
    tokenizer = tokenizerFromGguf(metadata);
  } finally {
    await source.close();
  }
});
afterAll(() =>
  console.log(
    "chat template fuzz:",
    stats.runs,
    "templates,",
    stats.rendered,
    "rendered, refused:",
    Object.fromEntries(stats.refused),
    `worst ${Math.round(stats.worstMs)} ms`,
  ),
);

/** The time budget, and room for the one step that passes it (a sort or a join of a budget-sized value). */
const LIMIT_MS = DEFAULT_TEMPLATE_BUDGET.maxMilliseconds + 500;

function outcome(text: string): void {
  stats.runs++;
  const m = new Map(metadata);
  m.set(CHAT_TEMPLATE_KEY, { type: GgufValueType.STRING, value: text });
  const started = performance.now();
  let why: string;
  try {
    const template = ChatTemplate.fromGguf(m, tokenizer, 512);
    const out = template.render([{ role: "user", content: "Hi" }]);
    expect(typeof out).toBe("string");
    expect(out.length).toBeLessThanOrEqual(template.maxPromptChars);
    stats.rendered++;
    why = "";
  } catch (e) {
    if (!(e instanceof TernionError) || e.code !== "BAD_CHAT_TEMPLATE") throw new Error(`${text}\n→ ${String(e)}`);
    why = /exceeded its (\w+) budget/.exec(e.message)?.[1] ?? "failed";
  }
  const ms = performance.now() - started;
  stats.worstMs = Math.max(stats.worstMs, ms);
  if (why) stats.refused.set(why, (stats.refused.get(why) ?? 0) + 1);
  if (ms > LIMIT_MS) throw new Error(`${text}\n→ took ${Math.round(ms)} ms`);
}

describe("chat template fuzzer", () => {
  it("every random template renders or fails with BAD_CHAT_TEMPLATE, within the budget", () => {
    fc.assert(fc.property(templateArbitrary, outcome), { numRuns: 500, seed: 1500 });
  });
});
