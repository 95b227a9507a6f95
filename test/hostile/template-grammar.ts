// Random chat templates from a small Jinja grammar (fast-check), for the chat-template fuzzer: loops, ifs, sets,
// macros (recursive too), calls, filters and operators over numbers from small to huge, strings, lists, the
// messages and undefined names. Most are valid Jinja; many are costly or fail, which is the point: every render
// must end within the budget with text or BAD_CHAT_TEMPLATE.
import fc from "fast-check";

const number = fc.oneof(fc.integer({ min: -3, max: 40 }), fc.constantFrom(300, 1000, 3000, 30_000, 10_000_000, 2 ** 31, 1e15));
const word = fc.constantFrom("'a'", "'xyz'", "''", "'\\n'", "'<|im_start|>'", `'${"w".repeat(200)}'`);
const name = fc.constantFrom("x", "y", "nobody", "messages", "loop", "ns.v", "m");

const { expr } = fc.letrec<{ expr: string }>((tie) => ({
  expr: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    number.map(String),
    word,
    name,
    fc.tuple(fc.constantFrom("range", "raise_exception", "namespace", "f", "undefined_fn"), tie("expr")).map(([f, a]) => `${f}(${a})`),
    fc.tuple(tie("expr"), fc.constantFrom("+", "~", "*", "-", "//", "in", "==", "and", "or"), tie("expr")).map(([a, op, b]) => `(${a} ${op} ${b})`),
    fc.tuple(tie("expr"), tie("expr")).map(([a, b]) => `[${a}, ${b}]`),
    fc.tuple(tie("expr"), tie("expr")).map(([a, b]) => `{${"'k'"}: ${a}, 'j': ${b}}`),
    fc
      .tuple(
        tie("expr"),
        fc.constantFrom("length", "join", "join(', ')", "tojson", "tojson(indent=4)", "upper", "trim", "list", "string", "first", "indent(8)"),
      )
      .map(([a, f]) => `(${a} | ${f})`),
    fc.tuple(tie("expr"), tie("expr"), tie("expr")).map(([a, b, c]) => `(${a}).replace(${b}, ${c})`),
    fc.tuple(tie("expr"), tie("expr")).map(([a, b]) => `(${a})[${b}]`),
    fc.tuple(tie("expr"), tie("expr"), tie("expr")).map(([a, b, c]) => `(${a} if ${b} else ${c})`),
  ),
}));

const { block } = fc.letrec<{ block: string }>((tie) => ({
  block: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom("text ", "", "\n"),
    expr.map((e) => `{{ ${e} }}`),
    fc.tuple(fc.constantFrom("x", "y"), expr, tie("block")).map(([v, e, b]) => `{% for ${v} in ${e} %}${b}{% endfor %}`),
    fc.tuple(expr, tie("block"), tie("block")).map(([e, a, b]) => `{% if ${e} %}${a}{% else %}${b}{% endif %}`),
    expr.map((e) => `{% set ns.v = ${e} %}`),
    fc.tuple(tie("block"), tie("block")).map(([a, b]) => a + b),
  ),
}));

/** A template: a namespace and a macro `f` (which may call itself) around random blocks. */
export const templateArbitrary: fc.Arbitrary<string> = fc
  .tuple(block, block)
  .map(([macroBody, body]) => `{% set ns = namespace(v=0) %}{% macro f(m) %}${macroBody}{% endmacro %}${body}`);
