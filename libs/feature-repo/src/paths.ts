/**
 * Error paths name list elements by their `name` (`features.item_price.transform`), so a message points
 * at the definition a person wrote; elements without a usable name fall back to `[index]`. The Python
 * loader (mmctr_trainer/feature_repo.py) renders the same text: the shared test vectors compare both.
 */
export type Segment = string | number;

export function renderPath(doc: unknown, segments: readonly Segment[]): string {
  let out = '';
  let node: unknown = doc;
  for (const seg of segments) {
    if (typeof seg === 'number') {
      const el: unknown = Array.isArray(node) ? node[seg] : undefined;
      const name = isObject(el) ? el.name : undefined;
      out +=
        typeof name === 'string' && /^[a-z][a-z0-9_]*$/.test(name) ? `${out ? '.' : ''}${name}` : `[${seg}]`;
      node = el;
    } else {
      out += `${out ? '.' : ''}${seg}`;
      node = isObject(node) ? node[seg] : undefined;
    }
  }
  return out || '(root)';
}

/** `[index]` always: for messages where the name itself is the problem (a duplicate). */
export function indexPath(prefix: string, index: number): string {
  return `${prefix}[${index}]`;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as messages quote it: strings in single quotes, the rest as compact JSON. */
export function quote(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : JSON.stringify(v);
}
