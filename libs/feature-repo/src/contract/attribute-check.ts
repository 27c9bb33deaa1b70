import type { Attribute, AttributeType, AttributeValue } from '../types';

/** A compiled check of one value: undefined when it is valid, else why not (without the field's name). */
export type ValueCheck = (v: unknown) => string | undefined;

/** What a missing optional attribute reads: its default, else its type's zero. */
export function fallbackValue(a: Attribute): AttributeValue {
  if (a.default !== undefined) return a.default;
  return TYPE_ZERO[a.type];
}

const TYPE_ZERO: Record<AttributeType, AttributeValue> = Object.freeze({
  string: '',
  int: 0,
  float: 0,
  bool: false,
  string_list: Object.freeze([]),
});

/** `got string "x"`, `got number 1.5`, `got null`: what a reason says about an offending value. */
export function describeValue(v: unknown): string {
  if (v === null) return 'got null';
  if (Array.isArray(v)) return 'got array';
  if (typeof v === 'string')
    return `got string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `got ${typeof v} ${String(v)}`;
  return `got ${typeof v}`;
}

/** Length in code points, as JSON Schema counts it; only counted when the UTF-16 length is not decisive. */
function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) i++;
    n++;
  }
  return n;
}

/** A string's length bounds; the UTF-16 length is an upper bound of the code point count. */
function lengthCheck(min: number, max: number, unit: string): ValueCheck {
  return (v) => {
    const s = v as string;
    if (s.length < min) return `shorter than ${min} ${unit}`;
    if (s.length > max && codePoints(s) > max) return `longer than ${max} ${unit}`;
    return undefined;
  };
}

function stringCheck(min = 0, max = Infinity): ValueCheck {
  const bounds = min > 0 || max < Infinity ? lengthCheck(min, max, 'characters') : undefined;
  return (v) => {
    if (typeof v !== 'string') return `expected string, ${describeValue(v)}`;
    return bounds?.(v);
  };
}

function numberCheck(type: 'int' | 'float', min = -Infinity, max = Infinity): ValueCheck {
  const ok = type === 'int' ? Number.isSafeInteger : Number.isFinite;
  return (v) => {
    if (typeof v !== 'number' || !ok(v)) return `expected ${type}, ${describeValue(v)}`;
    if (v < min) return `${v} is below the minimum ${min}`;
    if (v > max) return `${v} is above the maximum ${max}`;
    return undefined;
  };
}

const boolCheck: ValueCheck = (v) =>
  typeof v === 'boolean' ? undefined : `expected bool, ${describeValue(v)}`;

function stringListCheck(a: Attribute): ValueCheck {
  const maxItems = a.max_length ?? Infinity;
  const element = stringCheck(a.element_min_length, a.element_max_length);
  return (v) => {
    if (!Array.isArray(v)) return `expected string_list, ${describeValue(v)}`;
    if (v.length > maxItems) return `more than ${maxItems} elements`;
    for (let i = 0; i < v.length; i++) {
      const r = element(v[i]);
      if (r !== undefined) return `element ${i}: ${r}`;
    }
    return undefined;
  };
}

const BOUNDS_OF: Record<AttributeType, readonly (keyof Attribute)[]> = {
  string: ['min_length', 'max_length'],
  int: ['min', 'max'],
  float: ['min', 'max'],
  bool: [],
  string_list: ['max_length', 'element_min_length', 'element_max_length'],
};
const ALL_BOUNDS = [
  'min',
  'max',
  'min_length',
  'max_length',
  'element_min_length',
  'element_max_length',
] as const;

/**
 * The compiled value check of an attribute (type, then its bounds). A bound its type cannot have is
 * refused here, naming `path`, rather than silently ignored.
 */
export function compileValueCheck(a: Attribute, path: string): ValueCheck {
  const misplaced = ALL_BOUNDS.filter((b) => a[b] !== undefined && !BOUNDS_OF[a.type].includes(b));
  if (misplaced.length > 0)
    throw new Error(`${path}: ${misplaced.join(', ')} does not apply to a ${a.type} attribute`);
  switch (a.type) {
    case 'string':
      return stringCheck(a.min_length, a.max_length);
    case 'int':
    case 'float':
      return numberCheck(a.type, a.min, a.max);
    case 'bool':
      return boolCheck;
    case 'string_list':
      return stringListCheck(a);
  }
}
