// @huggingface/jinja's interpreter under a TemplateBudget. The library has no limits of its own, and no hook but
// its methods, so this subclass takes the two that every bit of work passes through:
//  - `evaluate` (public): each expression is a step; its depth is counted; the value it returns is measured and
//    refused over the size budget; the filters and methods that can build a value far larger than their inputs
//    (join, indent, replace, tojson, as expressions or filter blocks) have their result's size bounded from their
//    arguments before they run.
//  - `renderBlock` and `renderFor` (private, wrapped on the instance): each block, statement and loop iteration is
//    a step, and the text a block or a loop accumulates is checked against the output budget as it grows.
// The clock, the AbortSignal and the caller's interrupt are read every CHECK_EVERY steps and after every filter
// or call. The library version is pinned by the lock file; the constructor fails loudly if a private method it
// wraps is gone.
import { Interpreter, type Environment } from "@huggingface/jinja";
import { AbortError, ModelError } from "../runtime/errors.ts";
import { ENTRY_SIZE, type TemplateBudget } from "./template-budget.ts";

type Statement = NonNullable<Parameters<Interpreter["evaluate"]>[0]>;
type Value = ReturnType<Interpreter["evaluate"]>;
/** An AST node as the interpreter reads it (the library does not export its node classes). */
type Node = Statement & Record<string, unknown>;

/** A node standing for a value already evaluated (so that a checked argument is not evaluated twice). */
const EVALUATED = "ternion:EvaluatedValue";

const CHECK_EVERY = 32;

export interface RenderGuards {
  budget: TemplateBudget;
  signal?: AbortSignal;
  /** Asked with the signal: an interrupt that reaches a busy thread (a worker's shared flag). */
  interrupted?: () => boolean;
}

interface Measure {
  /** Characters, plus ENTRY_SIZE per list or mapping entry. */
  size: number;
  /** Nesting of lists and mappings. */
  depth: number;
}

const SCALAR: Measure = { size: 1, depth: 0 };
const EMPTY: Measure = { size: 0, depth: 0 };

type RenderBlock = (statements: Statement[], environment: Environment) => string;
type RenderFor = (node: Statement, environment: Environment) => string;

export class GuardedInterpreter extends Interpreter {
  private steps = 0;
  private depth = 0;
  private readonly started = performance.now();
  private readonly budget: TemplateBudget;
  /** The loops being rendered, innermost last, with the text their iterations have given so far. */
  private readonly loops: { body: unknown; chars: number }[] = [];
  /** Set while measuring a value that holds a namespace (which can change, so is not remembered). */
  private sawMutable = false;
  /** Sizes of immutable lists and mappings, measured once. */
  private readonly measured = new WeakMap<object, Measure>();

  constructor(
    environment: Environment,
    private readonly guards: RenderGuards,
  ) {
    super(environment);
    this.budget = guards.budget;
    const original = (Interpreter.prototype as unknown as { renderBlock?: RenderBlock }).renderBlock;
    if (typeof original !== "function")
      throw new Error("@huggingface/jinja's Interpreter has no renderBlock: this version cannot be run under a budget");
    const renderFor = (Interpreter.prototype as unknown as { renderFor?: RenderFor }).renderFor;
    if (typeof renderFor !== "function")
      throw new Error("@huggingface/jinja's Interpreter has no renderFor: this version cannot be run under a budget");
    // A loop accumulates its iterations' text itself: each iteration's is added to its loop's count.
    (this as unknown as { renderFor: RenderFor }).renderFor = (node, environment) => {
      this.loops.push({ body: (node as Node).body, chars: 0 });
      try {
        return renderFor.call(this, node, environment);
      } finally {
        this.loops.pop();
      }
    };
    (this as unknown as { renderBlock: RenderBlock }).renderBlock = (statements, environment) => {
      this.step();
      this.enter();
      try {
        let result = "";
        for (const statement of statements) {
          this.step();
          result += original.call(this, alone(statement), environment);
          this.checkOutput(result.length);
        }
        const loop = this.loops.at(-1);
        if (loop?.body === statements) this.checkOutput((loop.chars += result.length));
        return result;
      } finally {
        this.depth--;
      }
    };
  }

  override evaluate(statement: Statement | undefined, environment: Environment): Value {
    if (statement?.type === EVALUATED) return (statement as Node).value as Value;
    this.step();
    this.enter();
    try {
      const node = statement as Node | undefined;
      let value: Value;
      if (node?.type === "FilterExpression") value = this.evaluateFilter(node, environment);
      else if (node?.type === "FilterStatement") value = this.evaluateFilterBlock(node, environment);
      else if (node?.type === "CallExpression") value = this.evaluateCall(node, environment);
      else value = super.evaluate(statement, environment);
      // A filter or a call can be one long step (a sort, a macro): the clock is read after each.
      if (node?.type === "FilterExpression" || node?.type === "FilterStatement" || node?.type === "CallExpression") this.check();
      this.checkSize(value, "a value");
      return value;
    } finally {
      this.depth--;
    }
  }

  /** Steps done so far (for tests and figures). */
  get stepsTaken(): number {
    return this.steps;
  }

  // ---- budgets ----

  private step(): void {
    if (++this.steps % CHECK_EVERY === 0) this.check();
  }

  /** The step and time budgets, the signal and the interrupt. */
  private check(): void {
    if (this.steps > this.budget.maxSteps) this.exceeded("step", `more than ${this.budget.maxSteps} steps`);
    const elapsed = performance.now() - this.started;
    if (elapsed > this.budget.maxMilliseconds)
      this.exceeded("time", `${Math.ceil(elapsed)} ms > ${this.budget.maxMilliseconds} ms after ${this.steps} steps`);
    if (this.guards.signal?.aborted || this.guards.interrupted?.()) throw new AbortError("rendering the chat template was aborted");
  }

  private enter(): void {
    if (++this.depth > this.budget.maxDepth) {
      this.depth--;
      this.exceeded("depth", `nested deeper than ${this.budget.maxDepth} levels`);
    }
  }

  private exceeded(budget: string, detail: string): never {
    throw new ModelError("BAD_CHAT_TEMPLATE", `the chat template exceeded its ${budget} budget: ${detail}`);
  }

  private checkOutput(chars: number): void {
    if (chars > this.budget.maxOutputChars) this.exceeded("output", `more than ${this.budget.maxOutputChars} characters`);
  }

  private checkSize(value: Value, what: string): void {
    // The common cases without a measure: text, and a scalar.
    const inner = (value as { value: unknown }).value;
    if (typeof inner === "string") {
      if (inner.length > this.budget.maxValueSize) this.exceeded("size", `${what} of size ${inner.length} > ${this.budget.maxValueSize}`);
      return;
    }
    if (!(inner instanceof Map) && !Array.isArray(inner)) return;
    const { size, depth } = this.measure(value);
    if (size > this.budget.maxValueSize) this.exceeded("size", `${what} of size ${size} > ${this.budget.maxValueSize}`);
    if (depth > this.budget.maxDepth) this.exceeded("depth", `${what} nested ${depth} deep > ${this.budget.maxDepth}`);
  }

  private checkBound(bound: number, what: string): void {
    if (bound > this.budget.maxValueSize) this.exceeded("size", `${what} would have size ${bound} > ${this.budget.maxValueSize}`);
  }

  /** A value's size and nesting; lists and mappings are measured once (namespaces, which change, every time). */
  private measure(value: Value, visiting?: Set<object>): Measure {
    const v = value as { type: string; value: unknown };
    const inner = v.value;
    if (typeof inner === "string") return { size: inner.length, depth: 0 };
    if (!(inner instanceof Map) && !Array.isArray(inner)) return SCALAR;
    const known = this.measured.get(v);
    if (known) return known;
    visiting ??= new Set();
    if (visiting.has(v)) {
      this.sawMutable = true; // a namespace that holds itself
      return EMPTY;
    }
    visiting.add(v);
    const outerSawMutable = this.sawMutable;
    this.sawMutable = v.type === "NamespaceValue";
    let size = 0;
    let depth = 0;
    const entries: Iterable<[string, Value] | Value> = inner instanceof Map ? (inner as Map<string, Value>) : (inner as Value[]);
    for (const entry of entries) {
      const [key, child] = Array.isArray(entry) ? entry : ["", entry];
      const text = (child as { value: unknown }).value;
      size += ENTRY_SIZE + key.length;
      if (typeof text === "string") size += text.length;
      else {
        const m = this.measure(child, visiting);
        size += m.size;
        if (m.depth > depth) depth = m.depth;
      }
    }
    visiting.delete(v);
    const measure = { size, depth: depth + 1 };
    if (!this.sawMutable) this.measured.set(v, measure);
    this.sawMutable ||= outerSawMutable;
    return measure;
  }

  // ---- the operations that can build far more than they are given ----

  /** `x | join(sep)`, `x | indent(w)`, `x | replace(a, b)`, `x | tojson(indent=…)`: bounded before they run. */
  private evaluateFilter(node: Node, environment: Environment): Value {
    const filter = node.filter as Node;
    const name = filter.type === "CallExpression" ? ((filter.callee as Node).value as string) : undefined;
    if (name !== "join" && name !== "indent" && name !== "replace" && name !== "tojson") return super.evaluate(node, environment);
    const operand = this.evaluate(node.operand as Statement, environment);
    const { nodes, positional, keywords } = this.argumentsOnce(filter.args as Node[], environment);
    const text = stringOf(operand);
    const m = this.measure(operand);
    if (name === "join") {
      const separator = stringOf(positional[0] ?? keywords.get("separator")) ?? "";
      const items =
        text !== undefined ? text.length : Array.isArray((operand as { value: unknown }).value) ? (operand as { value: unknown[] }).value.length : 0;
      this.checkBound(m.size + Math.max(0, items - 1) * separator.length, "join()");
    } else if (name === "indent" && text !== undefined) {
      const width = positional[0] ?? keywords.get("width");
      const indent = stringOf(width)?.length ?? Math.max(0, Number((width as { value?: unknown } | undefined)?.value ?? 4));
      this.checkBound(text.length + lineCount(text) * indent, "indent()");
    } else if (name === "replace" && text !== undefined) {
      this.checkBound(replacedSize(text, positional), "replace()");
    } else if (name === "tojson") {
      const indent = Number((keywords.get("indent") as { value?: unknown } | undefined)?.value ?? 0) || 0;
      const separators = (keywords.get("separators") as { value?: unknown } | undefined)?.value;
      const separatorChars = Array.isArray(separators) ? separators.reduce((n: number, s) => n + (stringOf(s)?.length ?? 0), 0) : 0;
      const perEntry = 8 + separatorChars + (indent > 0 ? 1 + (m.depth + 1) * indent : 0);
      // Escapes take at most 6 characters per character (\uXXXX with ensure_ascii).
      this.checkBound(6 * m.size + Math.ceil(m.size / ENTRY_SIZE) * perEntry, "tojson()");
    }
    return super.evaluate({ ...node, operand: evaluated(operand), filter: { ...filter, args: nodes } } as Node, environment);
  }

  /** `{% filter f %}…{% endfilter %}`: the block's text, then the filter as an expression (so bounded as above). */
  private evaluateFilterBlock(node: Node, environment: Environment): Value {
    const text = (this as unknown as { renderBlock: RenderBlock }).renderBlock(node.body as Statement[], environment);
    const operand = super.evaluate({ type: "StringLiteral", value: text } as unknown as Statement, environment);
    return this.evaluateFilter({ type: "FilterExpression", operand: evaluated(operand), filter: node.filter } as unknown as Node, environment);
  }

  /** `s.replace(a, b)` is bounded like the filter; every other call runs as it is. */
  private evaluateCall(node: Node, environment: Environment): Value {
    const callee = node.callee as Node;
    if (callee.type !== "MemberExpression" || callee.computed || (callee.property as Node).value !== "replace")
      return super.evaluate(node, environment);
    const object = this.evaluate(callee.object as Statement, environment);
    const { nodes, positional } = this.argumentsOnce(node.args as Node[], environment);
    const text = stringOf(object);
    if (text !== undefined) this.checkBound(replacedSize(text, positional), "replace()");
    return super.evaluate({ ...node, callee: { ...callee, object: evaluated(object) }, args: nodes } as Node, environment);
  }

  /** A call's arguments evaluated once, as nodes to hand on and as values to check. */
  private argumentsOnce(args: Node[], environment: Environment): { nodes: Node[]; positional: Value[]; keywords: Map<string, Value> } {
    const positional: Value[] = [];
    const keywords = new Map<string, Value>();
    const nodes = args.map((arg): Node => {
      if (arg.type === "KeywordArgumentExpression") {
        const value = this.evaluate(arg.value as Statement, environment);
        keywords.set((arg.key as Node).value as string, value);
        return { ...arg, value: evaluated(value) } as Node;
      }
      if (arg.type === "SpreadExpression" || arg.type === "KeywordSpreadExpression") {
        return { ...arg, argument: evaluated(this.evaluate(arg.argument as Statement, environment)) } as Node;
      }
      const value = this.evaluate(arg, environment);
      positional.push(value);
      return evaluated(value);
    });
    return { nodes, positional, keywords };
  }
}

/** `[statement]`, made once per statement of a parsed template (the library's renderBlock takes a list). */
const singletons = new WeakMap<Statement, Statement[]>();
function alone(statement: Statement): Statement[] {
  let list = singletons.get(statement);
  if (!list) singletons.set(statement, (list = [statement]));
  return list;
}

function evaluated(value: Value): Node {
  return { type: EVALUATED, value } as unknown as Node;
}

function stringOf(value: unknown): string | undefined {
  const v = (value as { type?: string; value?: unknown } | undefined)?.value;
  return typeof v === "string" ? v : undefined;
}

function lineCount(text: string): number {
  let lines = 1;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) lines++;
  return lines;
}

/** The length of `text` with `old` replaced by `new` (at most `count` times), from an upper bound on the matches. */
function replacedSize(text: string, [old, replacement, count]: Value[]): number {
  const o = stringOf(old);
  const r = stringOf(replacement);
  if (o === undefined || r === undefined) return text.length;
  let matches = o.length === 0 ? text.length + 1 : Math.floor(text.length / o.length);
  const limit = (count as { value?: unknown } | undefined)?.value;
  if (typeof limit === "number" && limit >= 0) matches = Math.min(matches, limit);
  return text.length + matches * r.length;
}
