/**
 * Text a client chose (HELLO's program and host names, values quoted back in refusals) on its way to
 * the daemon's logs, status, metrics and the CLI's tables (docs/security.md, "Limits before
 * authentication"): bounded, so that one client cannot make a log line, a scrape or a status document
 * huge, and escaped, so that it carries no terminal control sequence, line break or bidirectional
 * override to whoever reads it.
 */

/** The most UTF-8 bytes a client's string keeps (its escapes included). */
export const CLIENT_TEXT_BYTES = 256;

/** Marks a string that was cut. */
const CUT = '…';

/**
 * C0 and C1 controls, DEL, the line and paragraph separators, and the bidirectional marks, embeddings,
 * overrides and isolates: what can move a cursor, end a line or reorder what a reader sees.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff\\]/u;

function escaped(ch: string): string {
  if (!UNSAFE.test(ch)) return ch;
  if (ch === '\\') return '\\\\';
  const code = ch.codePointAt(0)!;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * `text` with unsafe characters escaped (`\x1b`, `\u202e`; a backslash doubled) and cut, never inside
 * a character or an escape, to at most `maxBytes` of UTF-8, ending in `…` when cut. Reads no more of
 * `text` than it keeps, however long it is.
 */
export function clientText(text: string, maxBytes = CLIENT_TEXT_BYTES): string {
  const room = maxBytes - Buffer.byteLength(CUT);
  let out = '';
  let bytes = 0;
  let fitsUntil = 0;
  for (const ch of text) {
    const piece = escaped(ch);
    const size = Buffer.byteLength(piece);
    if (bytes + size > maxBytes) return `${out.slice(0, fitsUntil)}${CUT}`;
    out += piece;
    bytes += size;
    // Where the string must be cut to leave room for the mark, should a later piece not fit.
    if (bytes <= room) fitsUntil = out.length;
  }
  return out;
}
