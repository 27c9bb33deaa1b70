/**
 * Client-side query parameters with ClickHouse's `{name:Type}` syntax. ClickHouse 18.16 has no
 * server-side parameters, so each placeholder is rendered as `CAST(<escaped literal> AS Type)`.
 * The template is scanned once: text inside a bound value is never scanned again, so a value that
 * contains `{x:String}` stays an inert string.
 */
export type ParamValue = string | number | bigint | boolean | null | Date | readonly ParamValue[];
export type QueryParams = Record<string, ParamValue>;

export class QueryBindError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryBindError';
  }
}

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*):([^{}]+)\}/g;

const INT_RANGES: Record<string, [bigint, bigint]> = {
  UInt8: [0n, 255n],
  UInt16: [0n, 65535n],
  UInt32: [0n, 4294967295n],
  UInt64: [0n, 18446744073709551615n],
  Int8: [-128n, 127n],
  Int16: [-32768n, 32767n],
  Int32: [-2147483648n, 2147483647n],
  Int64: [-9223372036854775808n, 9223372036854775807n],
};

export function bindQuery(template: string, params: QueryParams = {}): string {
  return template.replace(PLACEHOLDER, (_match, name: string, rawType: string, offset: number) => {
    if (!Object.prototype.hasOwnProperty.call(params, name)) {
      throw new QueryBindError(`missing query parameter '${name}'`);
    }
    const type = rawType.trim();
    const value = params[name] as ParamValue;
    if (type === 'Identifier') return quoteIdentifier(value);
    const literal = renderLiteral(value, type, name);
    // `x IN CAST([...] AS Array(T))` fails on 18.16 and cannot use the primary key.
    if (/\bIN\s*$/i.test(template.slice(0, offset)) && unwrap(type, 'Array') !== null) {
      return `(SELECT arrayJoin(CAST(${literal} AS ${type})))`;
    }
    return `CAST(${literal} AS ${type})`;
  });
}

/** Backtick-quotes an identifier (table, column, database name). */
export function quoteIdentifier(value: ParamValue): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new QueryBindError('an Identifier parameter must be a non-empty string');
  }
  assertWellFormed(value, 'identifier');
  if (value.includes('\0')) throw new QueryBindError('an identifier cannot contain NUL');
  return '`' + value.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

/** Escapes a string into a single-quoted ClickHouse literal. */
export function quoteString(value: string): string {
  assertWellFormed(value, 'string');
  let out = "'";
  for (const ch of value) {
    switch (ch) {
      case '\\':
        out += '\\\\';
        break;
      case "'":
        out += "\\'";
        break;
      case '\0':
        out += '\\0';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      default:
        out += ch;
    }
  }
  return out + "'";
}

function assertWellFormed(value: string, what: string): void {
  // A lone UTF-16 surrogate has no UTF-8 encoding, so it could not round-trip byte for byte.
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value)) {
    throw new QueryBindError(`${what} contains a lone UTF-16 surrogate`);
  }
}

function unwrap(type: string, wrapper: string): string | null {
  const prefix = `${wrapper}(`;
  return type.startsWith(prefix) && type.endsWith(')') ? type.slice(prefix.length, -1).trim() : null;
}

function renderLiteral(value: ParamValue, type: string, name: string): string {
  const nullableInner = unwrap(type, 'Nullable');
  if (nullableInner !== null) return value === null ? 'NULL' : renderLiteral(value, nullableInner, name);
  if (value === null) throw new QueryBindError(`parameter '${name}' is null but ${type} is not Nullable`);

  const lowCardInner = unwrap(type, 'LowCardinality');
  if (lowCardInner !== null) return renderLiteral(value, lowCardInner, name);

  const arrayInner = unwrap(type, 'Array');
  if (arrayInner !== null) {
    if (!Array.isArray(value)) throw new QueryBindError(`parameter '${name}' must be an array for ${type}`);
    return '[' + (value as ParamValue[]).map((v) => renderLiteral(v, arrayInner, name)).join(', ') + ']';
  }

  if (type in INT_RANGES) return renderInteger(value, type, name);
  switch (type) {
    case 'String':
      if (typeof value !== 'string') throw new QueryBindError(`parameter '${name}' must be a string`);
      return quoteString(value);
    case 'Float32':
    case 'Float64':
      return renderFloat(value, name);
    case 'UUID':
      if (typeof value !== 'string' || !/^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$/.test(value)) {
        throw new QueryBindError(`parameter '${name}' must be a UUID string`);
      }
      return quoteString(value);
    case 'Date':
      return quoteString(dateText(value, name).slice(0, 10));
    case 'DateTime':
      return quoteString(dateText(value, name));
    default:
      throw new QueryBindError(`parameter '${name}' has unsupported type ${type}`);
  }
}

function renderInteger(value: ParamValue, type: string, name: string): string {
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === 'boolean') n = value ? 1n : 0n;
  else if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) n = BigInt(value);
  else throw new QueryBindError(`parameter '${name}' must be an integer for ${type}`);
  const [min, max] = INT_RANGES[type]!;
  if (n < min || n > max) throw new QueryBindError(`parameter '${name}' is out of range for ${type}`);
  return n.toString();
}

function renderFloat(value: ParamValue, name: string): string {
  if (typeof value !== 'number') throw new QueryBindError(`parameter '${name}' must be a number`);
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (value !== 0 && Math.abs(value) < 2.2250738585072014e-308) {
    // 18.16 cannot parse subnormal literals; rebuild the exact IEEE-754 bits instead.
    const bits = Buffer.alloc(8);
    bits.writeDoubleLE(value);
    return `reinterpretAsFloat64(unhex('${bits.toString('hex')}'))`;
  }
  // Shortest round-trip decimal text; ClickHouse parses exponents.
  return Object.is(value, -0) ? '-0.' : String(value);
}

function dateText(value: ParamValue, name: string): string {
  let d: Date;
  if (value instanceof Date) d = value;
  else if (typeof value === 'number') d = new Date(value * 1000);
  else if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$/.test(value)) return value;
  else throw new QueryBindError(`parameter '${name}' must be a Date, epoch seconds or 'YYYY-MM-DD hh:mm:ss'`);
  if (Number.isNaN(d.getTime())) throw new QueryBindError(`parameter '${name}' is an invalid date`);
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * A LIMIT as a literal (18.16 takes no bound parameter there): a positive safe integer, or a RangeError
 * naming `what`.
 */
export function limitLiteral(n: number, what = 'limit'): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${what} ${n} is not a positive integer`);
  return n;
}
