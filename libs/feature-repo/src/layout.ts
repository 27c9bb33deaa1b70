import { featureEntity } from './semantic';
import type { AggregateFeature, Feature, FeatureRepo, SequenceFeature } from './types';

/**
 * The model-input layout of a repository: which feature feeds which slot of which graph input. Inputs are
 * grouped by side and kind, so one exported graph shape fits any repository:
 *
 *   user_{cat,num,multi,vec}     [Bu, n]     once per request (Bu = 1, or one row per request in a batch)
 *   <seq>_{cat,num,multi,vec}    [Bu, L, n]  one per behaviour sequence, plus <seq>_age [Bu, L]
 *   cand_{cat,num,multi,vec}     [B, n]      one row per candidate
 *
 * An input exists only when a feature uses it. The Python twin (mmctr_trainer/feature_layout.py) renders
 * the same JSON; both compare against libs/feature-repo/test-vectors/layout/.
 */
export interface CategoricalSlot {
  feature: string;
  source: string;
  /** Join attribute when the source entity is reached through the side's entity (`ad.advertiser_id`). */
  via?: string;
  /** Aggregate slots (source `aggregate.<aggregation>`): the window whose raw value the slot reads. */
  window?: string;
  /** Hash namespace (hash encoding). */
  field?: string;
  encoding: 'hash' | 'vocabulary' | 'bucketize';
  /** Ids are 0 (missing / padding / out of vocabulary) .. size - 1. */
  size: number;
  clip?: [number, number];
  derive?: string;
  vocabulary?: string[];
  /** Hash only: an exact vocabulary fitted on the training split (value keys -> rows, in the artifact's vocabulary.json). */
  fit?: { min_count: number };
  boundaries?: number[];
}

export interface NumericSlot {
  feature: string;
  source: string;
  via?: string;
  /** Aggregate slots (source `aggregate.<aggregation>`): the window whose raw value the slot reads. */
  window?: string;
  transform: 'none' | 'clip' | 'log1p' | 'standardize';
  clip?: [number, number];
  /** Absent for standardize: fitted by the trainer, the input is the clipped raw value (the graph standardizes). */
  stats?: { mean: number; std: number };
}

export interface MultiSlot {
  feature: string;
  source: string;
  via?: string;
  field: string;
  size: number;
  max_length: number;
  pooling: 'mean' | 'sum' | 'max';
  /** First column of this feature in the `multi` input. */
  offset: number;
}

export interface VectorSlot {
  feature: string;
  embedding: string;
  entity: string;
  via?: string;
  width: number;
  offset: number;
}

export interface InputGroup {
  categorical: CategoricalSlot[];
  numeric: NumericSlot[];
  multi_categorical: MultiSlot[];
  vector: VectorSlot[];
}

export interface SequenceLayout extends InputGroup {
  name: string;
  owner: string;
  target: string;
  event_types: string[];
  length: number;
  age?: { field: string; boundaries_ms: number[] };
}

export interface GraphInput {
  name: string;
  dtype: 'int64' | 'float32';
  shape: (string | number)[];
}

export interface ModelLayout {
  repository: { name: string; version: string };
  request_entity: string;
  candidate_entity: string;
  user: InputGroup;
  sequences: SequenceLayout[];
  candidate: InputGroup;
  inputs: GraphInput[];
}

export class LayoutError extends Error {}

const emptyGroup = (): InputGroup => ({ categorical: [], numeric: [], multi_categorical: [], vector: [] });

/**
 * The join attribute through which `entity` is reached from `side` (`ad.advertiser_id` for advertiser from
 * ad): the side entity's attribute named like the other entity's key. Undefined for the side entity itself.
 */
function joinVia(repo: FeatureRepo, side: string, entity: string): string | undefined {
  if (entity === side) return undefined;
  const key = repo.entities.find((e) => e.name === entity)?.key;
  const hop = repo.entities.find((e) => e.name === side)?.attributes?.find((a) => a.name === key);
  return hop && key ? `${side}.${key}` : undefined;
}

/**
 * The side of an aggregate feature: the candidate's when any entity of its aggregation's key is the candidate
 * (its value depends on the candidate), the user's when all are the requester.
 */
function aggregateSide(
  repo: FeatureRepo,
  f: AggregateFeature,
  requester: string,
  candidate: string,
): 'user' | 'candidate' {
  const a = repo.aggregations?.find((x) => x.name === f.aggregation);
  if (!a) throw new LayoutError(`features.${f.name}: unknown aggregation '${f.aggregation}'`);
  const entities = a.key.map((k) => k.split('.')[0]!);
  if (entities.includes(candidate)) return 'candidate';
  if (entities.every((e) => e === requester)) return 'user';
  throw new LayoutError(
    `features.${f.name}: aggregation '${a.name}' is keyed by ${entities.map((e) => `'${e}'`).join(', ')}, neither the requester '${requester}' alone nor with the candidate '${candidate}'`,
  );
}

/** One slot per window of an aggregate feature: numeric, or bucketised ids for transform bucketize. */
function addAggregateSlots(group: InputGroup, repo: FeatureRepo, f: AggregateFeature): void {
  const a = repo.aggregations!.find((x) => x.name === f.aggregation)!;
  const clip = a.clip ? { clip: [a.clip[0], a.clip[1]] as [number, number] } : {};
  for (const window of f.windows ?? a.windows) {
    const at = { feature: f.name, source: `aggregate.${a.name}`, window };
    if (a.transform === 'bucketize') {
      group.categorical.push({
        ...at,
        encoding: 'bucketize',
        size: a.boundaries!.length + 2,
        ...clip,
        boundaries: [...a.boundaries!],
      });
    } else {
      group.numeric.push({ ...at, transform: a.transform ?? 'none', ...clip });
    }
  }
}

/** Which side a (non-sequence, non-aggregate) feature sits on, and the join that reaches its entity. */
function placement(
  repo: FeatureRepo,
  f: Exclude<Feature, SequenceFeature | AggregateFeature>,
  requester: string,
  candidate: string,
): { side: 'user' | 'candidate'; via?: string } {
  if (f.kind !== 'vector' && f.source.startsWith('context.')) {
    const attr = f.source.slice('context.'.length);
    const scope = repo.context.attributes.find((a) => a.name === attr)?.scope;
    return { side: scope === 'candidate' ? 'candidate' : 'user' };
  }
  const entity = featureEntity(repo, f);
  if (entity === undefined) throw new LayoutError(`features.${f.name}: not reachable from a score request`);
  for (const [side, name] of [
    ['candidate', candidate],
    ['user', requester],
  ] as const) {
    if (entity === name) return { side };
    const via = joinVia(repo, name, entity);
    if (via) return { side, via };
  }
  throw new LayoutError(
    `features.${f.name}: entity '${entity}' is neither '${requester}' nor '${candidate}' nor joined to them by a key attribute`,
  );
}

function addSlot(
  group: InputGroup,
  repo: FeatureRepo,
  f: Exclude<Feature, SequenceFeature | AggregateFeature>,
  via?: string,
): void {
  const at = via ? { via } : {};
  switch (f.kind) {
    case 'categorical':
      group.categorical.push({
        feature: f.name,
        source: f.source,
        ...at,
        ...(f.encoding === 'hash' ? { field: f.field ?? f.name } : {}),
        encoding: f.encoding,
        size: f.encoding === 'hash' ? f.buckets! : f.vocabulary!.length + 1,
        ...(f.clip ? { clip: [f.clip[0], f.clip[1]] as [number, number] } : {}),
        ...(f.derive ? { derive: f.derive } : {}),
        ...(f.vocabulary ? { vocabulary: [...f.vocabulary] } : {}),
        ...(f.fit ? { fit: { min_count: f.fit.min_count } } : {}),
      });
      return;
    case 'numeric':
      // Bucketised numbers are ids: 1 + count of boundaries <= value, 0 = missing.
      if (f.transform === 'bucketize') {
        group.categorical.push({
          feature: f.name,
          source: f.source,
          ...at,
          encoding: 'bucketize',
          size: f.boundaries!.length + 2,
          ...(f.clip ? { clip: [f.clip[0], f.clip[1]] as [number, number] } : {}),
          boundaries: [...f.boundaries!],
        });
        return;
      }
      group.numeric.push({
        feature: f.name,
        source: f.source,
        ...at,
        transform: f.transform,
        ...(f.clip ? { clip: [f.clip[0], f.clip[1]] as [number, number] } : {}),
        ...(f.stats ? { stats: { mean: f.stats.mean, std: f.stats.std } } : {}),
      });
      return;
    case 'multi_categorical':
      group.multi_categorical.push({
        feature: f.name,
        source: f.source,
        ...at,
        field: f.field ?? f.name,
        size: f.buckets,
        max_length: f.max_length,
        pooling: f.pooling,
        offset: group.multi_categorical.reduce((n, s) => n + s.max_length, 0),
      });
      return;
    case 'vector': {
      const entity = featureEntity(repo, f)!;
      group.vector.push({
        feature: f.name,
        embedding: f.embedding,
        entity,
        ...at,
        width: f.width,
        offset: group.vector.reduce((n, s) => n + s.width, 0),
      });
      return;
    }
  }
}

function groupInputs(prefix: string, g: InputGroup, lead: (string | number)[]): GraphInput[] {
  const out: GraphInput[] = [];
  const width = (xs: { max_length?: number; width?: number }[], key: 'max_length' | 'width') =>
    xs.reduce((n, s) => n + (s[key] ?? 0), 0);
  if (g.categorical.length)
    out.push({ name: `${prefix}_cat`, dtype: 'int64', shape: [...lead, g.categorical.length] });
  if (g.numeric.length)
    out.push({ name: `${prefix}_num`, dtype: 'float32', shape: [...lead, g.numeric.length] });
  if (g.multi_categorical.length)
    out.push({
      name: `${prefix}_multi`,
      dtype: 'int64',
      shape: [...lead, width(g.multi_categorical, 'max_length')],
    });
  if (g.vector.length)
    out.push({ name: `${prefix}_vec`, dtype: 'float32', shape: [...lead, width(g.vector, 'width')] });
  return out;
}

/** The requesting and the candidate entity: the label's anchor event names them in that order. */
function requestEntities(repo: FeatureRepo): [string, string] {
  const anchor = repo.event_types.find((t) => t.name === repo.label.anchor);
  if (!anchor || anchor.entities.length !== 2)
    throw new LayoutError(
      `label.anchor: event type '${repo.label.anchor}' must name exactly two entities (the requester, then the candidate)`,
    );
  return [anchor.entities[0]!, anchor.entities[1]!];
}

export function modelLayout(repo: FeatureRepo): ModelLayout {
  const [requester, candidate] = requestEntities(repo);
  const user = emptyGroup();
  const cand = emptyGroup();
  const byName = new Map(repo.features.map((f) => [f.name, f]));
  const sequences: SequenceLayout[] = [];

  for (const f of repo.features) {
    if (f.kind === 'sequence') continue;
    if (f.kind === 'aggregate') {
      const side = aggregateSide(repo, f, requester, candidate);
      addAggregateSlots(side === 'user' ? user : cand, repo, f);
      continue;
    }
    const { side, via } = placement(repo, f, requester, candidate);
    addSlot(side === 'user' ? user : cand, repo, f, via);
  }
  for (const f of repo.features) {
    if (f.kind !== 'sequence') continue;
    if (f.owner !== requester)
      throw new LayoutError(`features.${f.name}.owner: sequences belong to the requester '${requester}'`);
    const seq: SequenceLayout = {
      name: f.name,
      owner: f.owner,
      target: f.target,
      event_types: [...f.event_types],
      length: f.length,
      ...emptyGroup(),
      ...(f.age ? { age: { field: f.age.field, boundaries_ms: [...f.age.boundaries_ms] } } : {}),
    };
    for (const name of f.side_features) {
      const side = byName.get(name);
      if (!side || side.kind === 'sequence' || side.kind === 'aggregate')
        throw new LayoutError(`features.${f.name}.side_features: '${name}' is not a feature of the target`);
      const entity = featureEntity(repo, side);
      const via = entity === undefined ? undefined : joinVia(repo, f.target, entity);
      if (entity !== f.target && via === undefined)
        throw new LayoutError(`features.${f.name}.side_features: '${name}' does not describe '${f.target}'`);
      addSlot(seq, repo, side, via);
    }
    sequences.push(seq);
  }

  const inputs = [
    ...groupInputs('user', user, ['Bu']),
    ...sequences.flatMap((s) => [
      ...groupInputs(s.name, s, ['Bu', s.length]),
      ...(s.age ? [{ name: `${s.name}_age`, dtype: 'int64' as const, shape: ['Bu', s.length] }] : []),
    ]),
    ...groupInputs('cand', cand, ['B']),
  ];
  return {
    repository: { name: repo.name, version: repo.version },
    request_entity: requester,
    candidate_entity: candidate,
    user,
    sequences,
    candidate: cand,
    inputs,
  };
}
