/**
 * Kubernetes resource quantities (`8Gi`, `250m`, `1.5G`, `2e3`) to numbers and back, for the
 * capacities gpupool publishes (bytes, shares of a card) and the amounts a claim consumed.
 */

const SUFFIXES: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

/** The quantity's value; null when the text is not a quantity. */
export function parseQuantity(text: string): number | null {
  const m = QUANTITY.exec(text.trim());
  if (!m) return null;
  const base = Number(m[1]);
  if (m[2] !== undefined) return base * 10 ** Number(m[2].slice(1));
  return base * SUFFIXES[m[3] ?? '']!;
}

/** Bytes as a quantity: whole bytes, in the largest binary unit that divides them. */
export function bytesQuantity(bytes: number): string {
  const n = Math.floor(bytes);
  for (const unit of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const size = SUFFIXES[unit]!;
    if (n >= size && n % size === 0) return `${n / size}${unit}`;
  }
  return String(n);
}

/** A share of a card (0..1) as thousandths, `250m`, or `1` for the whole card. */
export function shareQuantity(share: number): string {
  const milli = Math.round(share * 1000);
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}
