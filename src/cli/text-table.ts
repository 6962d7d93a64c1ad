import { displayWidth, safeText, truncate } from './terminal-text.js';

/**
 * Borderless tables in kubectl's manner: upper-case headings, columns three spaces apart, no frame,
 * and never wider than the terminal. Every cell is escaped (terminal-text.ts) before it is measured.
 */

export interface Column<R> {
  header: string;
  value: (row: R) => string;
  /** Shown only with `-o wide`. */
  wide?: boolean;
  /** Figures: aligned right. */
  right?: boolean;
  /** Names and reasons: cut first (with an ellipsis) when the table must narrow. */
  flex?: boolean;
  /** Left out, before any other column, when cutting the names is not enough: the highest first. */
  optional?: number;
}

export interface TableLayout {
  /** Columns the table may take; Infinity: as wide as its cells (a pipe, no --width). */
  width: number;
  wide: boolean;
}

const GAP = 2;
/** The widest a cell grows without a terminal to fit: a hostile 50 MiB name stays one readable cell. */
const MAX_CELL = 48;
const MAX_WIDE_CELL = 120;
/** A flexible column keeps at least this much of its text (with the ellipsis). */
const MIN_FLEX = 8;

export function renderTable<R>(columns: Column<R>[], rows: R[], layout: TableLayout): string {
  let cols = columns.filter((c) => layout.wide || !c.wide);
  const cap = layout.wide ? MAX_WIDE_CELL : MAX_CELL;
  let cells = rows.map((r) => cols.map((c) => safeText(c.value(r), cap)));
  let widths = cols.map((c, i) => Math.max(displayWidth(c.header), ...cells.map((row) => displayWidth(row[i]!))));
  const total = () => widths.reduce((a, b) => a + b, 0) + GAP * (widths.length - 1);
  // Narrow the widest flexible column, one column at a time, until the table fits.
  let over = total() - layout.width;
  while (over > 0) {
    let widest = -1;
    widths.forEach((w, i) => {
      if (cols[i]!.flex && w > MIN_FLEX && (widest < 0 || w > widths[widest]!)) widest = i;
    });
    if (widest < 0) break;
    widths[widest]!--;
    over--;
  }
  // Still too wide on a narrow terminal: the optional columns go (rightmost first), then the last
  // ones, then the first is cut.
  while (total() > layout.width && cols.length > 1) {
    let drop = cols.length - 1;
    cols.forEach((c, i) => {
      if (c.optional !== undefined && (cols[drop]!.optional === undefined || c.optional >= cols[drop]!.optional!)) drop = i;
    });
    cols = cols.filter((_, i) => i !== drop);
    widths = widths.filter((_, i) => i !== drop);
    cells = cells.map((row) => row.filter((_, i) => i !== drop));
  }
  if (total() > layout.width) widths[0] = Math.max(1, layout.width);
  const line = (texts: string[]) =>
    texts
      .map((text, i) => {
        const cut = truncate(text, widths[i]!);
        const pad = ' '.repeat(widths[i]! - displayWidth(cut));
        return cols[i]!.right ? pad + cut : cut + pad;
      })
      .join(' '.repeat(GAP))
      .trimEnd();
  return [line(cols.map((c) => c.header)), ...cells.map(line)].join('\n');
}

/** A heading or message line: escaped and cut to the width. */
export function textLine(text: string, width: number): string {
  return safeText(text, width);
}
