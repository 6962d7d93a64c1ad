import { handshake, type HandshakeMap, type Key } from '../frames.js';

/**
 * The handshake's maps (src/protocol/frames.ts `handshake`) in the C codec library (gp_frames.h/.c).
 * The client library encodes the maps it sends (`gp_map_<name>_out`, `_bound`, `_encode`: only the
 * keys in `has`, nil for those in `nil`) and decodes the daemon's (`gp_map_<name>`, `_decode`: views
 * into the message; a key whose value has another type than the table's is left out of `has`, as a
 * newer daemon's additions are skipped). Numbers are read whatever msgpack width or kind carried them.
 */

const entries = (): [string, HandshakeMap][] => Object.entries(handshake) as [string, HandshakeMap][];
const macro = (map: string, key: string): string => `GP_KEY_${map.toUpperCase()}_${key.toUpperCase()}`;

/** A key as a C member: C++ keywords get a trailing _, since the addon (C++) includes gp_frames.h. */
const CXX_KEYWORDS = new Set(['namespace', 'class', 'new', 'delete', 'template', 'this', 'private', 'public', 'operator', 'default']);
const member = (k: Key): Key => (CXX_KEYWORDS.has(k.key) ? { ...k, key: `${k.key}_` } : k);

/** A number or a flag: the same member in the maps a client sends and the ones it reads. */
const NUMBER_TYPES = { uint: 'uint64_t', int: 'int64_t', float: 'double', bool: 'int' } as const;
const numberMember = (key: string, type: keyof typeof NUMBER_TYPES): string[] => [`${NUMBER_TYPES[type]} ${key};`];

function outMembers(key: Key): string[] {
  const k = member(key);
  const t = k.type;
  if (typeof t === 'object' && 'map' in t) return [`const struct gp_map_${t.map}_out *${k.key};`];
  if (typeof t === 'object') return [`const unsigned *${k.key};`, `uint32_t ${k.key}_count;`];
  switch (t) {
    case 'uint':
      return [...numberMember(k.key, t), ...(k.orStr ? [`int ${k.key}_is_${k.orStr}; /* "${k.orStr}" instead of a number */`] : [])];
    case 'int':
    case 'float':
    case 'bool':
      return numberMember(k.key, t);
    case 'str':
      return [`const char *${k.key};`];
    case 'bin':
      return [`const void *${k.key};`, `uint32_t ${k.key}_len;`];
  }
}

function inMembers(key: Key): string[] {
  const k = member(key);
  const t = k.type;
  if (typeof t === 'object' && 'map' in t) return [`const char *${k.key}; /* the map, for gp_map_${t.map}_decode */`];
  if (typeof t === 'object') {
    const what = t.arrayOf === 'pairs' ? 'pairs, read with gp_map_pair_next' : t.arrayOf === 'uint' ? 'uints' : `${t.arrayOf} maps, each stepped over with gp_map_item`;
    return [`const char *${k.key}; /* its first item: ${what} */`, `uint32_t ${k.key}_count;`];
  }
  switch (t) {
    case 'uint':
    case 'int':
    case 'float':
    case 'bool':
      return numberMember(k.key, t);
    case 'str':
    case 'bin':
      return [`const char *${k.key};`, `uint32_t ${k.key}_len;`];
  }
}

function boundOf(wire: Key): string {
  const k = member(wire);
  const t = k.type;
  const key = `${1 + 4 + wire.key.length}`;
  if (typeof t === 'object' && 'map' in t) return `${key} + (m->${k.key} ? gp_map_${t.map}_bound(m->${k.key}) : 1)`;
  if (typeof t === 'object') return `${key} + 5 + 9 * (size_t)m->${k.key}_count`;
  switch (t) {
    case 'str':
      return `${key} + 5 + (m->${k.key} ? strlen(m->${k.key}) : 0)`;
    case 'bin':
      return `${key} + 5 + (size_t)m->${k.key}_len`;
    default:
      return `${key} + 9${k.orStr ? ` + ${k.orStr.length}` : ''}`;
  }
}

function encodeValue(key: Key): string[] {
  const k = member(key);
  const t = k.type;
  if (typeof t === 'object' && 'map' in t) return [`p = m->${k.key} ? gp_map_${t.map}_encode(p, m->${k.key}) : mp_encode_nil(p);`];
  if (typeof t === 'object') return [`p = mp_encode_array(p, m->${k.key}_count);`, `for (uint32_t i = 0; i < m->${k.key}_count; i++)`, `    p = mp_encode_uint(p, m->${k.key}[i]);`];
  switch (t) {
    case 'uint':
      return k.orStr ? [`p = m->${k.key}_is_${k.orStr} ? mp_encode_str(p, "${k.orStr}", ${k.orStr.length}) : mp_encode_uint(p, m->${k.key});`] : [`p = mp_encode_uint(p, m->${k.key});`];
    case 'int':
      return [`p = m->${k.key} >= 0 ? mp_encode_uint(p, (uint64_t)m->${k.key}) : mp_encode_int(p, m->${k.key});`];
    case 'float':
      return [`p = mp_encode_double(p, m->${k.key});`];
    case 'bool':
      return [`p = mp_encode_bool(p, m->${k.key} != 0);`];
    case 'str':
      return [`p = m->${k.key} ? mp_encode_str(p, m->${k.key}, (uint32_t)strlen(m->${k.key})) : mp_encode_nil(p);`];
    case 'bin':
      return [`p = mp_encode_bin(p, (const char *)m->${k.key}, m->${k.key}_len);`];
  }
}

function decodeValue(map: string, wire: Key): string[] {
  const k = member(wire);
  const t = k.type;
  const bit = macro(map, wire.key);
  if (typeof t === 'object' && 'map' in t) return [`if (mp_typeof(*v) == MP_MAP) { out->${k.key} = v; out->has |= ${bit}; }`];
  if (typeof t === 'object') return [`if (mp_typeof(*v) == MP_ARRAY) { const char *q = v; out->${k.key}_count = mp_decode_array(&q); out->${k.key} = q; out->has |= ${bit}; }`];
  switch (t) {
    case 'uint':
    case 'int':
      return [`if (gp_map_number(v, &n) == 0) { out->${k.key} = (${t === 'uint' ? 'uint64_t' : 'int64_t'})n; out->has |= ${bit}; }`];
    case 'float':
      return [`if (gp_map_float(v, &out->${k.key}) == 0) out->has |= ${bit};`];
    case 'bool':
      return [`if (mp_typeof(*v) == MP_BOOL) { const char *q = v; out->${k.key} = mp_decode_bool(&q); out->has |= ${bit}; }`];
    case 'str':
      return [`if (mp_typeof(*v) == MP_STR) { const char *q = v; out->${k.key} = mp_decode_str(&q, &out->${k.key}_len); out->has |= ${bit}; }`];
    case 'bin':
      return [`if (mp_typeof(*v) == MP_BIN) { const char *q = v; out->${k.key} = mp_decode_bin(&q, &out->${k.key}_len); out->has |= ${bit}; }`];
  }
}

function limits(map: string, k: Key): string[] {
  const out: string[] = [];
  const m = macro(map, k.key);
  if (k.min !== undefined) out.push(`#define ${m}_MIN ${k.min}`);
  if (k.max !== undefined) out.push(`#define ${m}_MAX ${k.max}`);
  if (k.itemMax !== undefined) out.push(`#define ${m}_ITEM_MAX ${k.itemMax}`);
  if (k.bytes !== undefined) out.push(`#define ${m}_BYTES ${k.bytes}`);
  return out;
}

export function emitHandshakeHeader(): string {
  const lines = ['/* ---- the handshake\'s maps (src/protocol/frames.ts `handshake`) ---- */', ''];
  for (const [name, map] of entries()) {
    lines.push(`/* ${name}: ${map.doc} */`);
    map.keys.forEach((k, i) => lines.push(`#define ${macro(name, k.key)} (1u << ${i}) /* "${k.key}": ${k.doc} */`, ...limits(name, k)));
    if (map.from === 'client') {
      lines.push(`typedef struct gp_map_${name}_out {`, '    uint32_t has; /* the keys written */', '    uint32_t nil; /* of those, the ones written as nil */');
      for (const k of map.keys) for (const m of outMembers(k)) lines.push(`    ${m}`);
      lines.push(`} gp_map_${name}_out;`);
      lines.push(`size_t gp_map_${name}_bound(const gp_map_${name}_out *m);`, `char *gp_map_${name}_encode(char *p, const gp_map_${name}_out *m);`, '');
    } else {
      lines.push(`typedef struct gp_map_${name} {`, '    uint32_t has; /* the keys present with a value of their type */');
      for (const k of map.keys) for (const m of inMembers(k)) lines.push(`    ${m}`);
      lines.push(`} gp_map_${name};`);
      lines.push(`/* 0 with *out filled (views into [p, end)), or -1 when [p, end) does not start with one whole map. */`);
      lines.push(`int gp_map_${name}_decode(const char *p, const char *end, gp_map_${name} *out);`, '');
    }
  }
  lines.push('/* The item at *p of an array a decoded map points at; *p steps past it. */', 'const char *gp_map_item(const char **p);');
  lines.push('/* An [int, int] pair at *p (steps past it whatever it is): 1 and *a, *b set, or 0 when it is no such pair. */', 'int gp_map_pair_next(const char **p, int64_t *a, int64_t *b);', '');
  return lines.join('\n');
}

export function emitHandshakeSource(): string {
  const lines = [
    '/* ---- the handshake\'s maps ---- */',
    '',
    '/* A number of any msgpack kind as an integer (an encoder may send a large whole number as a float). */',
    '__attribute__((unused)) static int gp_map_number(const char *v, int64_t *n)',
    '{',
    '    const char *q = v;',
    '    switch (mp_typeof(*v)) {',
    '    case MP_UINT: *n = (int64_t)mp_decode_uint(&q); return 0;',
    '    case MP_INT: *n = mp_decode_int(&q); return 0;',
    '    case MP_DOUBLE: { double d = mp_decode_double(&q); *n = d >= -9.2e18 && d <= 9.2e18 ? (int64_t)d : 0; return 0; }',
    '    case MP_FLOAT: { float f = mp_decode_float(&q); *n = f >= -9.2e18f && f <= 9.2e18f ? (int64_t)f : 0; return 0; }',
    '    default: return -1;',
    '    }',
    '}',
    '',
    '__attribute__((unused)) static int gp_map_float(const char *v, double *d)',
    '{',
    '    const char *q = v;',
    '    int64_t n;',
    '    if (mp_typeof(*v) == MP_DOUBLE) { *d = mp_decode_double(&q); return 0; }',
    '    if (mp_typeof(*v) == MP_FLOAT) { *d = mp_decode_float(&q); return 0; }',
    '    if (gp_map_number(v, &n) == 0) { *d = (double)n; return 0; }',
    '    return -1;',
    '}',
    '',
    '/* Whether the str at p is `key` (len bytes). */',
    'static int gp_map_is_key(const char *p, const char *key, uint32_t len)',
    '{',
    '    uint32_t n;',
    '    if (mp_typeof(*p) != MP_STR) return 0;',
    '    const char *s = mp_decode_str(&p, &n);',
    '    return n == len && memcmp(s, key, len) == 0;',
    '}',
    '',
    'const char *gp_map_item(const char **p)',
    '{',
    '    const char *item = *p;',
    '    mp_next(p);',
    '    return item;',
    '}',
    '',
    'int gp_map_pair_next(const char **p, int64_t *a, int64_t *b)',
    '{',
    '    const char *q = gp_map_item(p);',
    '    if (mp_typeof(*q) != MP_ARRAY || mp_decode_array(&q) < 2 || gp_map_number(q, a) != 0) return 0;',
    '    mp_next(&q);',
    '    return gp_map_number(q, b) == 0;',
    '}',
    '',
  ];
  for (const [name, map] of entries()) {
    if (map.from === 'client') {
      lines.push(`size_t gp_map_${name}_bound(const gp_map_${name}_out *m)`, '{', '    size_t n = 5;');
      for (const k of map.keys) lines.push(`    if (m->has & ${macro(name, k.key)}) n += ${boundOf(k)};`);
      lines.push('    return n;', '}', '');
      lines.push(`char *gp_map_${name}_encode(char *p, const gp_map_${name}_out *m)`, '{');
      lines.push('    p = mp_encode_map(p, (uint32_t)__builtin_popcount(m->has));');
      for (const k of map.keys) {
        const bit = macro(name, k.key);
        lines.push(`    if (m->has & ${bit}) {`, `        p = mp_encode_str(p, "${k.key}", ${k.key.length});`);
        if (k.nil) {
          lines.push(`        if (m->nil & ${bit})`, '            p = mp_encode_nil(p);', '        else {');
          for (const l of encodeValue(k)) lines.push(`            ${l}`);
          lines.push('        }');
        } else {
          for (const l of encodeValue(k)) lines.push(`        ${l}`);
        }
        lines.push('    }');
      }
      lines.push('    return p;', '}', '');
    } else {
      lines.push(`int gp_map_${name}_decode(const char *p, const char *end, gp_map_${name} *out)`, '{');
      lines.push('    const char *check = p;', '    if (p >= end || gp_mp_check(&check, end) != 0 || mp_typeof(*p) != MP_MAP) return -1;');
      lines.push('    memset(out, 0, sizeof *out);', '    uint32_t fields = mp_decode_map(&p);', '    for (uint32_t i = 0; i < fields; i++) {');
      lines.push('        const char *k = gp_map_item(&p), *v = gp_map_item(&p);');
      if (map.keys.some((k) => k.type === 'uint' || k.type === 'int')) lines.push('        int64_t n;');
      map.keys.forEach((k, i) => {
        lines.push(`        ${i === 0 ? '' : 'else '}if (gp_map_is_key(k, "${k.key}", ${k.key.length})) {`);
        for (const l of decodeValue(name, k)) lines.push(`            ${l}`);
        lines.push('        }');
      });
      lines.push('    }', '    return 0;', '}', '');
    }
  }
  return lines.join('\n');
}
