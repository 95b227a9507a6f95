// What one render of a chat template may cost. The template comes from the model file, so a hostile file could
// otherwise loop for minutes or build gigabytes: every render runs under these limits (guarded-interpreter.ts),
// checked while it runs, and a render that passes one fails with ModelError BAD_CHAT_TEMPLATE naming it.

export interface TemplateBudget {
  /** Interpreter steps: expressions evaluated, statements and loop iterations rendered. */
  maxSteps: number;
  /** Wall-clock time of one render (ms). Long enough for any real template, short enough to block no one. */
  maxMilliseconds: number;
  /** Nesting of expressions, blocks and macro calls. */
  maxDepth: number;
  /** Characters of output: a chat template lowers it to what fits the model's context (promptCharsForContext). */
  maxOutputChars: number;
  /**
   * The size of any value built on the way (a string's length; ENTRY_SIZE for each list or mapping entry besides
   * its contents), refused before a value that would pass it is built. ChatTemplate.render raises it to the
   * render's maxOutputChars where that is larger, so that any output the budget allows can be built as a value.
   */
  maxValueSize: number;
}

/** The size a list or mapping entry counts for beside its contents (about its memory in bytes). */
export const ENTRY_SIZE = 32;

/**
 * The most characters a prompt may have whatever the context: 8 Mi (16 MiB as UTF-16), room for a million
 * tokens of ordinary text, so that a file claiming a huge context cannot lift the size budget with it.
 */
export const MAX_PROMPT_CHARS = 8 * 1024 * 1024;

export const DEFAULT_TEMPLATE_BUDGET: Readonly<TemplateBudget> = {
  maxSteps: 1_000_000,
  maxMilliseconds: 1_000,
  maxDepth: 512,
  maxOutputChars: MAX_PROMPT_CHARS,
  maxValueSize: 1024 * 1024,
};

/** The longest template text we parse (the biggest real chat templates are tens of KiB). */
export const MAX_TEMPLATE_CHARS = 1024 * 1024;

/**
 * The most characters a prompt that fits the context can have: no token covers more characters than the longest
 * token text of the vocabulary, so a longer text needs more tokens than the context holds. Capped at
 * MAX_PROMPT_CHARS.
 */
export function promptCharsForContext(contextLength: number, longestTokenChars: number): number {
  return Math.min(MAX_PROMPT_CHARS, Math.max(1, contextLength) * Math.max(1, longestTokenChars));
}
