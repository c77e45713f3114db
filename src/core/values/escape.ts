// Text from a registry, a mirror or a member's file is hostile: before it reaches a terminal,
// a log line or the journal, every character that could forge a line or drive a terminal is
// shown as an escape. One helper, so every report escapes the same way.

/**
 * `text` with C0 and C1 controls, DEL, the Unicode line and paragraph separators, bidi
 * overrides and lone surrogates escaped (`\n`, `\x1b`, `\u202e`), and backslashes doubled so
 * an escape can never be forged. Printable text, non-ASCII letters included, is kept.
 */
export function escapeText(text: string): string {
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (char === "\\") out += "\\\\";
    else if (char === "\n") out += "\\n";
    else if (char === "\r") out += "\\r";
    else if (char === "\t") out += "\\t";
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else if (isInvisibleOrBidi(code)) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += char;
  }
  return out;
}

/** Line/paragraph separators, bidi controls, zero-width characters, BOM and lone surrogates. */
function isInvisibleOrBidi(code: number): boolean {
  return (
    (code >= 0x200b && code <= 0x200f) ||
    (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2060 && code <= 0x206f) ||
    code === 0xfeff ||
    (code >= 0xd800 && code <= 0xdfff) ||
    code === 0xfffd
  );
}

/** At most `max` characters of hostile text, escaped, with how much was left out. */
export function escapeShort(text: string, max = 120): string {
  const escaped = escapeText(text.length > max ? text.slice(0, max) : text);
  return text.length > max ? `${escaped}… (${text.length - max} more characters)` : escaped;
}
