import { checkAggregations } from './aggregations';
import { quote } from './paths';
import type { Attribute, AttributeType, Feature, FeatureRepo, NumericFeature } from './types';

/** What a `namespace.attribute` reference points at. */
export interface Resolved {
  type: AttributeType;
  /** The entity whose attribute (or key) it is; absent for event and context attributes. */
  entity?: string;
}

/** Names every event carries without declaring them. */
const ENVELOPE = ['event_id', 'type', 'ts_ms'];

function byName<T extends { name: string }>(list: readonly T[] | undefined): Map<string, T> {
  const m = new Map<string, T>();
  for (const el of list ?? []) if (!m.has(el.name)) m.set(el.name, el);
  return m;
}

/** JS and Python print numbers alike for the values a repository holds (integers, short decimals). */
const num = (n: number): string => String(n);

export function resolveReference(repo: FeatureRepo, ref: string): Resolved | undefined {
  const [ns, attr] = ref.split('.') as [string, string];
  if (ns === 'context') {
    if (attr === 'ts_ms') return { type: 'int' };
    const a = repo.context.attributes.find((x) => x.name === attr);
    return a ? { type: a.type } : undefined;
  }
  const entity = repo.entities.find((e) => e.name === ns);
  if (entity) {
    if (attr === entity.key) return { type: 'string', entity: entity.name };
    const a = entity.attributes?.find((x) => x.name === attr);
    return a ? { type: a.type, entity: entity.name } : undefined;
  }
  const ev = repo.event_types.find((t) => t.name === ns);
  if (ev) {
    if (attr === 'ts_ms') return { type: 'int' };
    if (ev.entities.some((en) => repo.entities.find((e) => e.name === en)?.key === attr))
      return { type: 'string' };
    const a = ev.attributes?.find((x) => x.name === attr);
    return a ? { type: a.type } : undefined;
  }
  return undefined;
}

/** The entity a feature describes (side features of a sequence must describe its target). */
export function featureEntity(repo: FeatureRepo, f: Feature): string | undefined {
  if (f.kind === 'vector') return repo.embeddings?.find((e) => e.name === f.embedding)?.entity;
  if (f.kind === 'sequence' || f.kind === 'aggregate') return undefined;
  return resolveReference(repo, f.source)?.entity;
}

function defaultMatches(type: AttributeType, v: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof v === 'string';
    case 'int':
      return typeof v === 'number' && Number.isInteger(v);
    case 'float':
      return typeof v === 'number';
    case 'bool':
      return typeof v === 'boolean';
    case 'string_list':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
  }
}

/** Cross-reference and consistency checks the schema cannot express; messages name the path. */
export function semanticErrors(repo: FeatureRepo): string[] {
  const errors: string[] = [];
  const err = (path: string, msg: string): void => void errors.push(`${path}: ${msg}`);
  const entities = byName(repo.entities);
  const events = byName(repo.event_types);
  const embeddings = byName(repo.embeddings);
  const features = byName(repo.features);

  const duplicates = (path: string, list: readonly { name: string }[] | undefined): void => {
    const seen = new Set<string>();
    (list ?? []).forEach((el, i) => {
      if (seen.has(el.name)) err(`${path}[${i}]`, `duplicate name '${el.name}'`);
      seen.add(el.name);
    });
  };
  const checkDefault = (path: string, a: Attribute): void => {
    if (a.default === undefined) return;
    if (a.required) err(`${path}.default`, 'a required attribute has no default');
    else if (!defaultMatches(a.type, a.default))
      err(`${path}.default`, `${quote(a.default)} is not a ${a.type}`);
  };
  const checkRange = (path: string, r: readonly [number, number] | undefined): void => {
    if (r && r[0] >= r[1]) err(path, `lower bound ${num(r[0])} must be below upper bound ${num(r[1])}`);
  };
  const increasing = (path: string, xs: readonly number[] | undefined): void => {
    (xs ?? []).forEach((x, i) => {
      if (i > 0 && x <= (xs?.[i - 1] ?? x))
        err(`${path}[${i}]`, 'must be greater than the previous boundary');
    });
  };

  // Numeric features and aggregations share their transforms (an aggregation has no stats). A standardize
  // without stats is fitted on the training split by the trainer.
  const checkTransform = (
    p: string,
    f: Partial<Pick<NumericFeature, 'transform' | 'clip' | 'stats' | 'boundaries'>>,
  ) => {
    if (f.transform === 'clip' && f.clip === undefined) err(`${p}.clip`, "required by transform 'clip'");
    if (f.transform === 'bucketize' && f.boundaries === undefined) {
      err(`${p}.boundaries`, "required by transform 'bucketize'");
    }
    if (f.stats !== undefined && f.transform !== 'standardize') {
      err(`${p}.stats`, "only used by transform 'standardize'");
    }
    if (f.boundaries !== undefined && f.transform !== 'bucketize') {
      err(`${p}.boundaries`, "only used by transform 'bucketize'");
    }
    checkRange(`${p}.clip`, f.clip);
    increasing(`${p}.boundaries`, f.boundaries);
  };

  duplicates('entities', repo.entities);
  duplicates('event_types', repo.event_types);
  duplicates('embeddings', repo.embeddings);
  duplicates('context.attributes', repo.context.attributes);
  duplicates('features', repo.features);

  for (const e of repo.entities) {
    const p = `entities.${e.name}`;
    duplicates(`${p}.attributes`, e.attributes);
    for (const a of e.attributes ?? []) {
      if (a.name === e.key) err(`${p}.attributes.${a.name}`, `'${a.name}' is the entity key`);
      checkDefault(`${p}.attributes.${a.name}`, a);
    }
  }

  for (const t of repo.event_types) {
    const p = `event_types.${t.name}`;
    t.entities.forEach((en, i) => {
      if (!entities.has(en)) err(`${p}.entities[${i}]`, `unknown entity '${en}'`);
    });
    const reserved = new Set([...ENVELOPE, ...t.entities.map((en) => entities.get(en)?.key ?? '')]);
    duplicates(`${p}.attributes`, t.attributes);
    for (const a of t.attributes ?? []) {
      if (reserved.has(a.name)) err(`${p}.attributes.${a.name}`, `'${a.name}' is reserved`);
      checkDefault(`${p}.attributes.${a.name}`, a);
    }
  }

  const recorded = events.get(repo.context.recorded_on);
  if (!recorded) err('context.recorded_on', `unknown event type '${repo.context.recorded_on}'`);
  for (const a of repo.context.attributes) {
    const p = `context.attributes.${a.name}`;
    checkDefault(p, a);
    if (!recorded) continue;
    const onEvent = recorded.attributes?.find((x) => x.name === a.name);
    if (!onEvent) err(p, `not an attribute of event type '${recorded.name}'`);
    else if (onEvent.type !== a.type) {
      err(`${p}.type`, `'${a.type}' differs from ${recorded.name}.${a.name} ('${onEvent.type}')`);
    }
  }

  for (const m of repo.embeddings ?? []) {
    const p = `embeddings.${m.name}`;
    if (!entities.has(m.entity)) err(`${p}.entity`, `unknown entity '${m.entity}'`);
    (m.inputs ?? []).forEach((ref, i) => {
      if (!resolveReference(repo, ref)) err(`${p}.inputs[${i}]`, `unknown attribute '${ref}'`);
    });
  }

  const hashFields = new Map<string, string>();
  const claimField = (path: string, field: string, owner: string): void => {
    const other = hashFields.get(field);
    if (other !== undefined) err(path, `hash field '${field}' is already used by feature '${other}'`);
    else hashFields.set(field, owner);
  };

  for (const f of repo.features) {
    const p = `features.${f.name}`;
    if (f.kind === 'categorical' || f.kind === 'numeric' || f.kind === 'multi_categorical') {
      const r = resolveReference(repo, f.source);
      if (!r) err(`${p}.source`, `unknown attribute '${f.source}'`);
      if (f.kind === 'categorical') {
        if (r && (r.type === 'float' || r.type === 'string_list')) {
          err(`${p}.source`, `a categorical feature cannot read ${r.type} attribute '${f.source}'`);
        }
        if (f.encoding === 'hash') {
          if (f.buckets === undefined) err(`${p}.buckets`, "required by encoding 'hash'");
          if (f.vocabulary !== undefined) err(`${p}.vocabulary`, "not used by encoding 'hash'");
        } else {
          if (f.vocabulary === undefined) err(`${p}.vocabulary`, "required by encoding 'vocabulary'");
          if (f.buckets !== undefined) err(`${p}.buckets`, "not used by encoding 'vocabulary'");
          if (f.fit !== undefined)
            err(`${p}.fit`, "only used by encoding 'hash' (a fixed vocabulary is not fitted)");
          const seen = new Set<string>();
          (f.vocabulary ?? []).forEach((v, i) => {
            if (seen.has(v)) err(`${p}.vocabulary[${i}]`, `duplicate value '${v}'`);
            seen.add(v);
          });
        }
        for (const key of ['clip', 'derive'] as const) {
          if (f[key] !== undefined && r && r.type !== 'int') {
            err(`${p}.${key}`, `needs an int attribute, '${f.source}' is ${r.type}`);
          }
        }
        checkRange(`${p}.clip`, f.clip);
        claimField(`${p}.field`, f.field ?? f.name, f.name);
      } else if (f.kind === 'numeric') {
        if (r && r.type !== 'int' && r.type !== 'float') {
          err(`${p}.source`, `a numeric feature needs an int or float attribute, '${f.source}' is ${r.type}`);
        }
        checkTransform(p, f);
      } else {
        if (r && r.type !== 'string_list') {
          err(
            `${p}.source`,
            `a multi_categorical feature needs a string_list attribute, '${f.source}' is ${r.type}`,
          );
        }
        claimField(`${p}.field`, f.field ?? f.name, f.name);
      }
    } else if (f.kind === 'sequence') {
      if (!entities.has(f.owner)) err(`${p}.owner`, `unknown entity '${f.owner}'`);
      if (!entities.has(f.target)) err(`${p}.target`, `unknown entity '${f.target}'`);
      f.event_types.forEach((name, i) => {
        const ev = events.get(name);
        if (!ev) return err(`${p}.event_types[${i}]`, `unknown event type '${name}'`);
        for (const en of [f.owner, f.target]) {
          if (entities.has(en) && !ev.entities.includes(en)) {
            err(`${p}.event_types[${i}]`, `event type '${name}' does not carry entity '${en}'`);
          }
        }
      });
      f.side_features.forEach((name, i) => {
        const side = features.get(name);
        if (!side) return err(`${p}.side_features[${i}]`, `unknown feature '${name}'`);
        if (side.kind === 'sequence')
          return err(`${p}.side_features[${i}]`, 'a sequence cannot be a side feature');
        const unresolved = 'source' in side && !resolveReference(repo, side.source);
        if (entities.has(f.target) && !unresolved && featureEntity(repo, side) !== f.target) {
          err(`${p}.side_features[${i}]`, `feature '${name}' is not over entity '${f.target}'`);
        }
      });
      if (f.age) {
        increasing(`${p}.age.boundaries_ms`, f.age.boundaries_ms);
        claimField(`${p}.age.field`, f.age.field, f.name);
      }
    } else if (f.kind === 'aggregate') {
      const a = repo.aggregations?.find((x) => x.name === f.aggregation);
      if (!a) err(`${p}.aggregation`, `unknown aggregation '${f.aggregation}'`);
      const seen = new Set<string>();
      (f.windows ?? []).forEach((w, i) => {
        if (seen.has(w)) err(`${p}.windows[${i}]`, `duplicate window '${w}'`);
        else if (a && !a.windows.includes(w))
          err(`${p}.windows[${i}]`, `'${w}' is not a window of aggregation '${a.name}'`);
        seen.add(w);
      });
    } else {
      const m = embeddings.get(f.embedding);
      if (!m) err(`${p}.embedding`, `unknown embedding '${f.embedding}'`);
      else if (m.width !== f.width) {
        err(
          `${p}.width`,
          `width ${num(f.width)} does not match embedding '${m.name}' (width ${num(m.width)})`,
        );
      }
    }
  }

  checkAggregations(repo, {
    err,
    duplicates,
    checkTransform,
    resolve: (ref) => resolveReference(repo, ref),
    valueMatches: defaultMatches,
  });

  const { anchor, positive } = repo.label;
  if (!events.has(anchor)) err('label.anchor', `unknown event type '${anchor}'`);
  if (!events.has(positive)) err('label.positive', `unknown event type '${positive}'`);
  if (anchor === positive) err('label.positive', 'must differ from label.anchor');
  (repo.label.match_on ?? []).forEach((m, i) => {
    if (!events.has(anchor) || !events.has(positive)) return;
    if (!resolveReference(repo, `${anchor}.${m}`) || !resolveReference(repo, `${positive}.${m}`)) {
      err(`label.match_on[${i}]`, `'${m}' is not an attribute of both '${anchor}' and '${positive}'`);
    }
  });

  return [...new Set(errors)].sort();
}
