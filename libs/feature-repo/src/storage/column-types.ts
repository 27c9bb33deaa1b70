import type { AttributeType, AttributeValue } from '../types';

/** The column type a new column of each attribute type gets. */
export const CH_TYPE: Readonly<Record<AttributeType, string>> = {
  string: 'String',
  int: 'Int64',
  float: 'Float64',
  bool: 'UInt8',
  string_list: 'Array(String)',
};

/** What an optional attribute without a declared default reads as. */
export const ZERO: Readonly<Record<AttributeType, AttributeValue>> = {
  string: '',
  int: 0,
  float: 0,
  bool: false,
  string_list: [],
};

/**
 * Existing column types each attribute type can be written to: tables made before the repository keep
 * their own narrower or encoded types (the demo's events.position is UInt16), and writers encode by the
 * actual type.
 */
const ACCEPTS: Readonly<Record<AttributeType, RegExp>> = {
  string: /^(String|LowCardinality\(String\)|FixedString\(\d+\))$/,
  int: /^U?Int(8|16|32|64)$/,
  float: /^Float(32|64)$/,
  bool: /^UInt8$/,
  string_list: /^Array\(String\)$/,
};

export function columnAccepts(type: AttributeType, actual: string): boolean {
  return ACCEPTS[type].test(actual);
}

/** A ClickHouse string literal (the same escapes as the query binder). */
export function chString(s: string): string {
  const esc = s.replace(/[\\'\0\n\r\t]/g, (c) =>
    c === '\0' ? '\\0' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\${c}`,
  );
  return `'${esc}'`;
}

export function chLiteral(type: AttributeType, v: AttributeValue): string {
  switch (type) {
    case 'string':
      return chString(String(v));
    case 'int':
    case 'float':
      return String(v);
    case 'bool':
      return v === true ? '1' : '0';
    case 'string_list':
      return `[${(v as readonly string[]).map(chString).join(', ')}]`;
  }
}
