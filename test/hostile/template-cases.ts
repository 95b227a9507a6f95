// The hostile corpus's chat templates: stories260K (from ../shared) with its tokenizer.chat_template replaced,
// written with the project's GGUF writer, each run as one chat turn. The four of issue 15 (range(1e8), a
// quadratic list, a 151M-character output, nested loops) and deep nesting, huge literals, recursion through
// macros, exceptions, undefined names, non-string output, value blow-ups, and templates from the fuzzer's grammar
// (template-grammar.ts, a fixed seed). Each must end, within the case bounds, with an answer or a typed error
// (BAD_CHAT_TEMPLATE; PROMPT_TOO_LONG for a prompt that cannot fit); `templateOutcomes` says which.
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { CHAT_TEMPLATE_KEY } from "../../src/engine/chat-template.ts";
import { MAX_TEMPLATE_CHARS } from "../../src/engine/template-budget.ts";
import { readGgufHeader, readTensorData } from "../../src/runtime/gguf/reader.ts";
import { bytesSource } from "../../src/runtime/gguf/sources.ts";
import { GgufValueType } from "../../src/runtime/gguf/types.ts";
import { type GgufWriteInput, writeGgufToBytes } from "../../src/runtime/gguf/writer.ts";
import { sharedPath } from "../helpers/shared.ts";
import type { HostileModelCase } from "./case.ts";
import { templateArbitrary } from "./template-grammar.ts";

/** What a case must end with: an answer, or an error with this code whose message matches. */
export type TemplateOutcome = { answer: true } | { code: string; message?: RegExp };

const BUDGET = (which: string) => ({ code: "BAD_CHAT_TEMPLATE", message: new RegExp(`exceeded its ${which} budget`) });
const FAILS = { code: "BAD_CHAT_TEMPLATE" };
const ANSWER = { answer: true } as const;

/** The templates with what each must give (the fuzzer's: an answer or any typed error). */
const TEMPLATES: [name: string, template: string, outcome: TemplateOutcome][] = [
  ["template/range-100000000", "{% for i in range(100000000) %}{% endfor %}x", BUDGET("size")],
  [
    "template/quadratic-list",
    "{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% for j in range(1000) %}{% set ns.l = ns.l + [j] %}{% endfor %}{% endfor %}{{ ns.l | length }}",
    { code: "BAD_CHAT_TEMPLATE", message: /exceeded its (time|size) budget/ },
  ],
  ["template/output-151M-characters", "{% for i in range(151) %}{% for j in range(1000000) %}x{% endfor %}{% endfor %}", BUDGET("size")],
  ["template/output-loop", "{% for i in range(3000) %}{% for j in range(3000) %}xy{% endfor %}{% endfor %}", BUDGET("output")],
  [
    "template/nested-loops",
    "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
    { code: "BAD_CHAT_TEMPLATE", message: /exceeded its (step|time) budget/ },
  ],
  ["template/deep-parentheses", `{{ ${"(".repeat(20_000)}1${")".repeat(20_000)} }}`, FAILS],
  // Refused by the depth budget, or by the parser where this thread's stack is smaller.
  ["template/deep-lists", `{{ ${"[".repeat(600)}1${"]".repeat(600)} }}`, { code: "BAD_CHAT_TEMPLATE", message: /depth budget|we can parse/ }],
  ["template/deeper-lists", `{{ ${"[".repeat(5_000)}1${"]".repeat(5_000)} }}`, FAILS],
  ["template/deep-ifs", `${"{% if true %}".repeat(3_000)}x${"{% endif %}".repeat(3_000)}`, FAILS],
  ["template/huge-literal", `{{ '${"x".repeat(MAX_TEMPLATE_CHARS - 100)}' }}`, BUDGET("output")],
  ["template/over-1MiB", `{{ messages }}${" ".repeat(MAX_TEMPLATE_CHARS)}`, { code: "BAD_CHAT_TEMPLATE", message: /more than the 1048576/ }],
  ["template/macro-recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", BUDGET("depth")],
  ["template/macro-mutual-recursion", "{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}x{{ a(n) }}{% endmacro %}{{ a(0) }}", BUDGET("depth")],
  [
    "template/macro-fork-bomb",
    "{% macro f(n) %}{% if n < 40 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}",
    { code: "BAD_CHAT_TEMPLATE", message: /exceeded its (step|time) budget/ },
  ],
  ["template/raise-exception", "{{ raise_exception('Only user and assistant roles are supported! \\x1b[31mred\\x1b[0m') }}", FAILS],
  ["template/undefined-call", "{{ undefined_function(messages) }}", FAILS],
  ["template/undefined-member", "{{ nobody.name.first }}", ANSWER],
  ["template/call-of-undefined-member", "{{ nobody.name() }}", FAILS],
  ["template/undefined-name", "{{ nobody }}{% for m in messages %}{{ m.content }}{% endfor %}", ANSWER],
  ["template/non-string-output", "{{ 42 }}{{ [1, 'a', none] }}{{ {'k': true} }}{{ none }}{{ 1.5 }}{{ messages | length }}", ANSWER],
  ["template/string-doubling", "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}x", BUDGET("size")],
  [
    "template/shared-lists",
    "{% set ns = namespace(a=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a }}",
    BUDGET("size"),
  ],
  ["template/join-amplified", "{% set s = range(1000) | join(',') %}{{ range(1000) | join(s) }}", BUDGET("size")],
  ["template/replace-amplified", "{% set s = range(1000) | join(',') %}{{ s.replace('', s) }}", BUDGET("size")],
  ["template/indent-amplified", "{% set s = range(1000) | join('\\n') %}{{ s | indent(1000000) }}", BUDGET("size")],
  ["template/filter-block-amplified", "{% set s = range(500) | join('\\n') %}{% filter indent(1000000) %}{{ s }}{% endfilter %}", BUDGET("size")],
  ["template/tojson-amplified", "{% set s = range(1000) | join(',') %}{{ [[[[[[[[s]]]]]]]] | tojson(indent=1000000) }}", BUDGET("size")],
];

/** How many fuzzer templates the corpus carries (the unit fuzzer, test/chat-template-fuzz.test.ts, runs more). */
const FUZZ_CASES = 12;
const FUZZ_SEED = 15;

const fuzzed: [string, string, TemplateOutcome][] = fc
  .sample(templateArbitrary, { seed: FUZZ_SEED, numRuns: FUZZ_CASES })
  .map((template, i) => [`template/fuzz-${FUZZ_SEED}-${i}`, template, { code: "ANY" }]);

/** Each case's expected outcome ({ code: "ANY" }: an answer or any typed error). */
export const templateOutcomes: ReadonlyMap<string, TemplateOutcome> = new Map([...TEMPLATES, ...fuzzed].map(([n, , o]) => [n, o]));

/** stories260K as the writer's input (its tensors read once), to which each case adds its template. */
const base: GgufWriteInput = await (async () => {
  const bytes = new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf")));
  const source = bytesSource(bytes);
  const header = await readGgufHeader(source);
  const tensors = await Promise.all(
    header.tensors.map(async (t) => ({ name: t.name, dims: t.dims, type: t.type, data: await readTensorData(source, header, t) })),
  );
  return { version: header.version, metadata: header.metadata, tensors };
})();

const models = new Map<string, Uint8Array>();
for (const [name, template] of [...TEMPLATES, ...fuzzed]) {
  const metadata = new Map(base.metadata);
  metadata.set(CHAT_TEMPLATE_KEY, { type: GgufValueType.STRING, value: template });
  models.set(name, await writeGgufToBytes({ ...base, metadata }));
}

export function templateCases(): HostileModelCase[] {
  return [...models].map(([name, bytes]) => {
    const outcome = templateOutcomes.get(name)!;
    const expect: HostileModelCase["expect"] =
      "answer" in outcome
        ? { answers: true }
        : outcome.code === "ANY"
          ? undefined
          : { refused: { code: new RegExp(`^${outcome.code}$`), ...(outcome.message ? { message: outcome.message } : {}) } };
    return { name, model: () => bytes, action: "chat" as const, ...(expect ? { expect } : {}) };
  });
}
