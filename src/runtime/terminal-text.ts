// Text that came from a model file (its name, metadata, tensor names, an error message quoting them) or from the
// model itself, made safe to print: a control character could otherwise move the cursor, rewrite the screen,
// set the window title or, on some terminals, answer back into the input. Every C0 control but newline and tab,
// DEL, every C1 control (U+0080–U+009F, CSI among them) and the bidirectional overrides and isolates that
// reorder what is shown (U+202A–U+202E, U+2066–U+2069) are written as \uXXXX: readable, and still the same
// string inside a JSON literal, so JSON output stays valid and equal.

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const UNSAFE_ONE_LINE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

const escaped = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * `text` with its unsafe characters escaped. `lines`: newlines and tabs stay as they are (a table, a story);
 * otherwise they are escaped too, so that the text stays on its one line (an error line, a name in a header).
 */
export function terminalText(text: string, options: { lines?: boolean } = {}): string {
  return text.replace(options.lines ? UNSAFE : UNSAFE_ONE_LINE, escaped);
}
