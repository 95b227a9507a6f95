// Chat templates under a budget (src/engine/chat-template.ts, guarded-interpreter.ts): every budget refuses the
// template that passes it with ModelError BAD_CHAT_TEMPLATE naming it, while it runs (in well under the time a
// run without the check takes); the abort signal and the interrupt stop a render; real templates still render.
import { Template } from "@huggingface/jinja";
import { beforeAll, describe, expect, it } from "vitest";
import { ChatTemplate, CHAT_TEMPLATE_KEY, MESSAGE_MARKUP_CHARS } from "../src/engine/chat-template.ts";
import { DEFAULT_TEMPLATE_BUDGET, MAX_PROMPT_CHARS, MAX_TEMPLATE_CHARS, promptCharsForContext } from "../src/engine/template-budget.ts";
import type { GgufMetadata } from "../src/runtime/gguf/metadata.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { GgufValueType } from "../src/runtime/gguf/types.ts";
import { tokenizerFromGguf } from "../src/runtime/tokenizer/index.ts";
import type { Tokenizer } from "../src/runtime/tokenizer/types.ts";
import { AbortError, ContextError, ModelError } from "../src/runtime/errors.ts";
import { sharedPath } from "./helpers/shared.ts";

let metadata: GgufMetadata;
let tokenizer: Tokenizer;
const CONTEXT = 512;
const USER = [{ role: "user", content: "Hi" }];

beforeAll(async () => {
  const source = await openFileSource(sharedPath("models/stories260K.gguf"));
  try {
    metadata = (await readGgufHeader(source)).metadata;
    tokenizer = tokenizerFromGguf(metadata);
  } finally {
    await source.close();
  }
});

function template(text: string, context = CONTEXT): ChatTemplate {
  const m = new Map(metadata);
  m.set(CHAT_TEMPLATE_KEY, { type: GgufValueType.STRING, value: text });
  return ChatTemplate.fromGguf(m, tokenizer, context);
}

/** Renders and returns the error (failing the test when there is none) and how long the render took. */
function refusal(t: ChatTemplate, options: Parameters<ChatTemplate["render"]>[1] = {}): { error: ModelError; ms: number } {
  const started = performance.now();
  try {
    t.render(USER, options);
  } catch (e) {
    return { error: e as ModelError, ms: performance.now() - started };
  }
  throw new Error("the render was not refused");
}

describe("chat template budgets", () => {
  it("renders real templates as before, within the budget", () => {
    const chatml =
      "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content | trim + '<|im_end|>\\n' }}{% endfor %}" +
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    expect(template(chatml).render(USER)).toBe("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    const macros =
      "{% macro show(m, n) %}{{ n }}:{{ m.role }}={{ m.content | replace('i', 'I') | indent(2) }};{% endmacro %}" +
      "{% for m in messages %}{{ show(m, loop.index) }}{% endfor %}{{ messages | tojson(indent=1) | length }}" +
      "{{ range(3) | join(',') }}{{ strftime_now('%Y') | length }}";
    const library = new Template(macros).render({ messages: USER, add_generation_prompt: true, bos_token: "<s>", eos_token: "</s>" });
    expect(library).toMatch(/^1:user=HI;\d+0,1,24$/);
    expect(template(macros).render(USER)).toBe(library);
    const block =
      "{% filter upper %}{% for m in messages %}{{ m.content }}{% endfor %}{% endfilter %}|{% filter replace('H', 'J') %}Hi{% endfilter %}";
    expect(template(block).render(USER)).toBe("HI|Ji");
  });

  it("the output budget follows the context: the longest token's characters times the context length", () => {
    let longest = 0;
    for (let id = 0; id < tokenizer.vocabSize; id++) longest = Math.max(longest, tokenizer.tokenText(id).length);
    const t = template("x");
    expect(t.maxPromptChars).toBe(CONTEXT * longest);
    expect(promptCharsForContext(2 ** 31, 100)).toBe(MAX_PROMPT_CHARS);
    // The largest output the budget allows (what fits the context, and the messages' characters twice with each
    // one's markup: a long conversation is the caller's to shorten) renders; one character more is refused while
    // it is written.
    const messageRoom = 2 * USER.reduce((n, m) => n + m.content.length, 0) + MESSAGE_MARKUP_CHARS * USER.length;
    const allowed = CONTEXT * longest + messageRoom;
    const fill = `{% for i in range(${CONTEXT}) %}{{ '${"x".repeat(longest)}' }}{% endfor %}{{ '${"m".repeat(messageRoom)}' }}`;
    expect(template(fill).render(USER)).toHaveLength(allowed);
    const over = refusal(template(`${fill}y`));
    expect(over.error).toMatchObject({ name: "ModelError", code: "BAD_CHAT_TEMPLATE" });
    expect(over.error.message).toMatch(`exceeded its output budget: more than ${allowed} characters`);
    // A loop's text is counted as its iterations give it, not once the loop is done (the step budget would be first).
    const loop = refusal(template("{% for i in range(1000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}"));
    expect(loop.error.message).toMatch("exceeded its output budget");
  });

  it("range() is refused before its list is built", () => {
    const { error, ms } = refusal(template("{% for i in range(100000000) %}{% endfor %}x"));
    expect(error).toMatchObject({ code: "BAD_CHAT_TEMPLATE" });
    expect(error.message).toMatch(/size budget: range\(\) of 100000000 numbers/);
    expect(ms).toBeLessThan(100);
  });

  it("the step budget stops loops that build nothing", () => {
    const nested = "{% for a in range(300) %}{% for b in range(300) %}{% for c in range(300) %}{% endfor %}{% endfor %}{% endfor %}";
    const { error } = refusal(template(nested, 1 << 20), { budget: { maxMilliseconds: 60_000 } });
    expect(error.message).toMatch(`exceeded its step budget: more than ${DEFAULT_TEMPLATE_BUDGET.maxSteps} steps`);
  });

  it("the time budget stops a render that is slow per step", () => {
    // A list concatenated onto itself: quadratic work in few steps.
    const quadratic =
      "{% set ns = namespace(l=[]) %}{% for i in range(2000) %}{% set ns.l = ns.l + [i] %}{% endfor %}" +
      "{% for i in range(20000) %}{% for x in ns.l %}{% endfor %}{% endfor %}";
    const { error, ms } = refusal(template(quadratic, 1 << 20), { budget: { maxSteps: 1e12, maxMilliseconds: 200 } });
    expect(error.message).toMatch(/exceeded its time budget: \d+ ms > 200 ms after \d+ steps/);
    expect(ms).toBeLessThan(1000);
  });

  it("the depth budget stops recursion through macros and deep literals", () => {
    const recursive = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
    expect(refusal(template(recursive)).error.message).toMatch(`exceeded its depth budget: nested deeper than ${DEFAULT_TEMPLATE_BUDGET.maxDepth}`);
    const deep = `{{ ${"[".repeat(600)}1${"]".repeat(600)} }}`;
    expect(refusal(template(deep)).error.message).toMatch(/exceeded its depth budget/);
  });

  it("values that double are refused when they pass the size budget, not when they run out of memory", () => {
    const strings = "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}";
    expect(refusal(template(strings)).error.message).toMatch(/exceeded its size budget: a value of size \d+ > \d+/);
    const lists = "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}";
    expect(refusal(template(lists)).error.message).toMatch(/exceeded its size budget/);
    // Shared structure counts every time it appears: [a, a] nested 60 times would print 2^60 items.
    const shared = "{% set ns = namespace(a=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a }}";
    expect(refusal(template(shared)).error.message).toMatch(/exceeded its size budget/);
  });

  it("join, indent, replace and tojson are refused before they build more than the budget", () => {
    const big = "{% set s = range(1000) | join(',') %}"; // 3,889 characters
    for (const [expr, what] of [
      [`${big}{{ range(1000) | join(s) }}`, "join()"],
      [`${big}{{ s | replace(',', s) }}`, "replace()"],
      [`${big}{{ s.replace('', s) }}`, "replace()"],
      [`${big}{{ (s | replace(',', '\\n')) | indent(100000) }}`, "indent()"],
      [`${big}{{ [[[[[[[[[[s]]]]]]]]]] | tojson(indent=100000) }}`, "tojson()"],
      ["{% set t = range(500) | join('\n') %}{% filter indent(100000) %}{{ t }}{% endfilter %}", "indent()"],
    ] as const) {
      const { error, ms } = refusal(template(expr));
      expect(error.message, expr).toMatch(`exceeded its size budget: ${what} would have size`);
      expect(ms).toBeLessThan(200);
    }
  });

  it("a template that raises, calls what is not defined or fails in the library gives BAD_CHAT_TEMPLATE", () => {
    expect(refusal(template("{{ raise_exception('no system role') }}")).error.message).toBe("the chat template raised an exception: no system role");
    expect(refusal(template("{{ nothing() }}")).error).toMatchObject({ code: "BAD_CHAT_TEMPLATE", message: /rendering the chat template failed/ });
    expect(refusal(template("{{ 1 + none }}")).error).toMatchObject({ code: "BAD_CHAT_TEMPLATE" });
    expect(refusal(template("{{ range(1, 2, 0) }}")).error.message).toMatch(/step must not be zero/);
    expect(refusal(template("{{ range('a') }}")).error.message).toMatch(/range\(\) takes one to three integers/);
    // Undefined names print as nothing (Jinja's default), numbers and lists as text.
    expect(template("{{ nobody }}{{ 1 + 2 }}{{ [1, 'a'] }}").render(USER)).toBe('3[1, "a"]');
  });

  it("a template longer than MAX_TEMPLATE_CHARS is refused at load", () => {
    expect(() => template("x".repeat(MAX_TEMPLATE_CHARS + 1))).toThrow(ModelError);
    expect(() => template("x".repeat(MAX_TEMPLATE_CHARS + 1))).toThrow(/more than the 1048576 a chat template may have/);
  });

  it("an abort signal or an interrupt stops a render while it runs", () => {
    const endless = "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}";
    const aborted = new AbortController();
    aborted.abort();
    expect(refusal(template(endless), { signal: aborted.signal }).error).toBeInstanceOf(AbortError);
    let asked = 0;
    const { error } = refusal(template(endless), { interrupted: () => ++asked > 10 });
    expect(error).toBeInstanceOf(AbortError);
    expect(asked).toBe(11);
  });

  it("a prompt longer than the context can hold is refused before it is tokenized", () => {
    const t = template("x");
    const encode = tokenizer.encode.bind(tokenizer);
    let encoded = 0;
    const counting = Object.create(tokenizer, { encode: { value: (...a: Parameters<Tokenizer["encode"]>) => (encoded++, encode(...a)) } });
    expect(() => t.tokenize(counting, "x".repeat(t.maxPromptChars + 1))).toThrow(ContextError);
    expect(encoded).toBe(0);
    expect(t.tokenize(counting, "Once upon a time").length).toBeGreaterThan(1);
    expect(encoded).toBe(1);
    // Messages over the value budget are the caller's: refused before the template sees them.
    const huge = [{ role: "user", content: "x".repeat(DEFAULT_TEMPLATE_BUDGET.maxValueSize + 1) }];
    expect(() => template("{{ messages[-1].content[:10] }}").render(huge)).toThrow(
      /1 messages of 1048577 characters make a list of size 1048688, more than the 1048576/,
    );
    expect(() => template("{{ messages[-1].content[:10] }}").render(huge)).toThrow(ContextError);
  });
});
