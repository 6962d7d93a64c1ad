import stringWidth from 'string-width';

/**
 * Text that reaches an operator's terminal. Program and host names come from clients (HELLO) and may
 * hold anything, escape sequences included (issue 12, item 3): every character that a terminal would
 * act on rather than show is written as an escape a person can read.
 */

// C0 controls, DEL, C1 controls (0x9b is a one-byte CSI), and the bidirectional overrides and
// isolates that reorder what follows them on the line.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

/** `\e[31m`, `\x07`, `\u202e`: every control character as an escape, the rest as it was. */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (ch) => {
    const named = NAMED[ch];
    if (named) return named;
    const code = ch.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Columns the text takes on a terminal (wide characters count two). */
export function displayWidth(text: string): number {
  return stringWidth(text);
}

const ELLIPSIS = '…';
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The text cut to at most `width` columns, ending with an ellipsis when anything was cut. */
export function truncate(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 0) return '';
  let out = '';
  let used = 0;
  for (const { segment } of graphemes.segment(text)) {
    const w = displayWidth(segment);
    if (used + w > width - 1) break;
    out += segment;
    used += w;
  }
  return out + ELLIPSIS;
}

/** Escaped, then cut: what a table cell or a heading line may show of a client's string. */
export function safeText(text: string, width = Number.POSITIVE_INFINITY): string {
  return truncate(escapeControl(text), width);
}

// JSON.stringify escapes only C0 controls; these it leaves raw.
const JSON_RAW = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON with every control character as a `\uXXXX` escape: the same document, safe on a terminal. */
export function terminalJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(JSON_RAW, (ch) => `\\u${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}
