// What may reach an operator's terminal from a client's strings, and how tables narrow (src/cli/terminal-text.ts, text-table.ts).
import t from 'tap';
import { displayWidth, escapeControl, safeText, terminalJson, truncate } from '../../src/cli/terminal-text.js';
import { renderTable, type Column } from '../../src/cli/text-table.js';

t.test('every control character is escaped, printable text is kept', async (t) => {
  t.equal(escapeControl('\x1b[31mred\x1b[0m'), '\\e[31mred\\e[0m');
  t.equal(escapeControl('a\nb\rc\td\x07e\x00f\x7fg\x9bh'), 'a\\nb\\rc\\td\\x07e\\x00f\\x7fg\\x9bh', 'C0, DEL and C1 (0x9b: a one-byte CSI)');
  t.equal(escapeControl('abc\u202edcba\u2066x\u2069'), 'abc\\u202edcba\\u2066x\\u2069', 'bidirectional overrides and isolates');
  t.equal(escapeControl('名前 café ✓'), '名前 café ✓', 'other characters as they are');
  t.notMatch(terminalJson({ p: '\x1b]0;x\x07\u202e\x85' }), /[\u0000-\u001f\u007f-\u009f\u202e]/, 'JSON: every control as \\uXXXX');
  t.same(JSON.parse(terminalJson({ p: '\x1b]0;x\x07\u202e\x85' })), { p: '\x1b]0;x\x07\u202e\x85' }, 'the same document');
});

t.test('cut to a width in terminal columns, with an ellipsis', async (t) => {
  t.equal(truncate('short', 10), 'short');
  t.equal(truncate('abcdefghij', 5), 'abcd…');
  t.equal(displayWidth(truncate('名前名前名前', 5)), 5, 'wide characters count two');
  t.equal(truncate('名前名前名前', 5), '名前…');
  t.equal(safeText(`\x1b${'x'.repeat(100)}`, 10), '\\exxxxxxx…', 'escaped first, then cut');
});

t.test('a table narrows its names, then drops optional columns by rank, and never exceeds the width', async (t) => {
  type Row = { name: string; a: string; b: string; c: string };
  const cols: Column<Row>[] = [
    { header: 'NAME', value: (r) => r.name, flex: true },
    { header: 'A', value: (r) => r.a, optional: 1 },
    { header: 'B', value: (r) => r.b, optional: 2 },
    { header: 'KEEP', value: (r) => r.c },
    { header: 'WIDE', value: () => 'w', wide: true },
  ];
  const rows = [{ name: 'a-rather-long-name-of-a-card', a: 'aaaa', b: 'bbbb', c: 'cccc' }];
  t.equal(renderTable(cols, rows, { width: Infinity, wide: false }), 'NAME                          A     B     KEEP\na-rather-long-name-of-a-card  aaaa  bbbb  cccc');
  t.match(renderTable(cols, rows, { width: Infinity, wide: true }), /KEEP  WIDE$/m, '-o wide adds its columns');
  for (let width = 8; width <= 50; width++) {
    const out = renderTable(cols, rows, { width, wide: false });
    t.ok(out.split('\n').every((l) => displayWidth(l) <= width), `within ${width}`);
  }
  t.equal(renderTable(cols, rows, { width: 30, wide: false }), 'NAME          A     B     KEEP\na-rather-lo…  aaaa  bbbb  cccc', 'the name is cut first, to what is left');
  t.equal(renderTable(cols, rows, { width: 24, wide: false }).split('\n')[0], 'NAME      A     KEEP', 'then B (rank 2) goes');
  t.equal(renderTable(cols, rows, { width: 18, wide: false }).split('\n')[0], 'NAME      KEEP', 'then A');
});
