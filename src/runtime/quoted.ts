// Text read from a file (a metadata key, a tensor name, a string value) as it appears inside an error message: in
// double quotes, control characters escaped (C0, DEL and C1, so that no escape sequence reaches a terminal and the
// message stays one line), and cut to a length that a message can carry.

const MAX_SHOWN = 80;

/** C0 controls, DEL and C1 controls (ESC and CSI start terminal escape sequences). */
export function isControlCharacter(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code <= 0x9f);
}

export function quoted(text: string): string {
  const cut = text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
  let escaped = "";
  for (const c of cut) {
    const code = c.charCodeAt(0);
    if (c === '"' || c === "\\") escaped += `\\${c}`;
    else if (isControlCharacter(code) || code === 0x2028 || code === 0x2029) escaped += `\\u${code.toString(16).padStart(4, "0")}`;
    else escaped += c;
  }
  return `"${escaped}"${text.length > MAX_SHOWN ? ` (${text.length} characters)` : ""}`;
}
