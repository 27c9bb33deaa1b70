import Ajv, { type ErrorObject } from 'ajv';
import schema from '../schema/feature-repo.v1.schema.json';
import { quote, renderPath, type Segment } from './paths';

/** The published schema, as a plain object (for tools that want to show or re-publish it). */
export const FEATURE_REPO_SCHEMA: unknown = schema;

const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
const validateSchema = ajv.compile(schema);

function valueAt(doc: unknown, segs: readonly Segment[]): unknown {
  let node = doc;
  for (const s of segs) node = (node as Record<string | number, unknown> | undefined)?.[s];
  return node;
}

function pointerSegments(pointer: string, doc: unknown): Segment[] {
  if (pointer === '') return [];
  const segs: Segment[] = [];
  let node: unknown = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      const i = Number(key);
      segs.push(i);
      node = node[i];
    } else {
      segs.push(key);
      node = (node as Record<string, unknown> | undefined)?.[key];
    }
  }
  return segs;
}

/** One schema error in the loaders' shared wording (Python builds the same text from its own checker). */
function describe(e: ErrorObject, doc: unknown): string | undefined {
  const segs = pointerSegments(e.instancePath, doc);
  const where = renderPath(doc, segs);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'if':
      return undefined; // the failing `then` branch reports the details
    case 'type': {
      const t = p.type;
      return `${where}: must be ${Array.isArray(t) ? t.join(' or ') : String(t)}`;
    }
    case 'required':
      return `${where}: missing required property '${String(p.missingProperty)}'`;
    case 'additionalProperties':
      return `${where}: unknown property '${String(p.additionalProperty)}'`;
    case 'enum': {
      const last = segs[segs.length - 1];
      const what = typeof last === 'string' ? last : 'value';
      const allowed = (p.allowedValues as unknown[]).map(String).join(', ');
      return `${where}: unknown ${what} ${quote(valueAt(doc, segs))} (expected one of: ${allowed})`;
    }
    case 'const':
      return `${where}: must be ${quote(p.allowedValue)}`;
    case 'minimum':
      return `${where}: must be >= ${String(p.limit)}`;
    case 'exclusiveMinimum':
      return `${where}: must be > ${String(p.limit)}`;
    case 'minLength':
      return `${where}: must have at least ${String(p.limit)} characters`;
    case 'maxLength':
      return `${where}: must have at most ${String(p.limit)} characters`;
    case 'minItems':
      return `${where}: must have at least ${String(p.limit)} items`;
    case 'maxItems':
      return `${where}: must have at most ${String(p.limit)} items`;
    case 'pattern':
      return `${where}: must match pattern ${String(p.pattern)}`;
    default:
      return `${where}: ${e.message ?? e.keyword}`;
  }
}

/** Schema errors, deduplicated and sorted (the same order the Python loader reports). */
export function schemaErrors(doc: unknown): string[] {
  if (validateSchema(doc)) return [];
  const out = new Set<string>();
  for (const e of validateSchema.errors ?? []) {
    const msg = describe(e, doc);
    if (msg) out.add(msg);
  }
  return [...out].sort();
}
