import { createHash } from 'node:crypto';
import type { Attribute, Embedding, FeatureRepo } from './types';

/**
 * The catalogue's embedding: `fused` of the `item` entity, image and text projected together and stored
 * in item_embeddings and the `mm:` hashes (apps/embedder's catalogue path, keyed by the item's
 * content_hash column).
 */
export const CATALOGUE_EMBEDDING = { entity: 'item', name: 'fused' } as const;

/**
 * Where an embedding's vectors live: `catalogue` (item_embeddings, the `mm:` hashes) or `entity`
 * (entity_embeddings by embedding name, entity key and the hash of its inputs; the `emb:` hashes).
 * Undefined: nothing stores it (another embedding of the catalogue entity); its features read zeros.
 */
export type EmbeddingStore = 'catalogue' | 'entity';

export function embeddingStore(e: Pick<Embedding, 'entity' | 'name'>): EmbeddingStore | undefined {
  if (e.entity !== CATALOGUE_EMBEDDING.entity) return 'entity';
  return e.name === CATALOGUE_EMBEDDING.name ? 'catalogue' : undefined;
}

/**
 * The width of the text encoder's vectors (all-MiniLM-L6-v2, scripts/setup-models.sh): ingest and the plan
 * derive jobs for entity embeddings of this width only; the embedder checks it against its model manifest.
 */
export const TEXT_ENCODER_WIDTH = 384;

/** A text input of an entity embedding: an attribute of the entity and the value it reads when absent. */
export interface EmbeddingInput {
  readonly attribute: string;
  readonly type: 'string' | 'string_list';
  readonly fallback: string | readonly string[];
}

/** An embedding the embedder computes from entity snapshots (the `entity` store): its job's recipe. */
export interface EntityEmbeddingSpec {
  readonly name: string;
  readonly entity: string;
  /** The entity's key attribute. */
  readonly key: string;
  readonly width: number;
  /** Text inputs in declared order: their text goes through the text encoder. */
  readonly inputs: readonly EmbeddingInput[];
}

/** An entity-store embedding the embedder cannot compute, and why (its features read zeros). */
export interface UnsupportedEmbedding {
  readonly name: string;
  readonly entity: string;
  readonly reason: string;
}

export interface EmbeddingJobs {
  readonly specs: readonly EntityEmbeddingSpec[];
  readonly unsupported: readonly UnsupportedEmbedding[];
}

/**
 * The embedding jobs a repository derives: one spec per `entity`-store embedding whose inputs are
 * string or string_list attributes of its own entity (the text encoder's input). An embedding that
 * reads anything else, or that has no inputs or no snapshot table to update it, is reported
 * unsupported. `textWidth`, when given, is the text encoder's width: a declared width that differs is
 * unsupported too (the vector could not fill it).
 */
export function embeddingJobs(repo: FeatureRepo, textWidth?: number): EmbeddingJobs {
  const specs: EntityEmbeddingSpec[] = [];
  const unsupported: UnsupportedEmbedding[] = [];
  for (const m of repo.embeddings ?? []) {
    if (embeddingStore(m) !== 'entity') continue;
    const no = (reason: string) => unsupported.push({ name: m.name, entity: m.entity, reason });
    const entity = repo.entities.find((e) => e.name === m.entity);
    if (!entity?.table || entity.updates !== 'snapshot') {
      no(`entity '${m.entity}' has no snapshot table to embed from`);
      continue;
    }
    if (textWidth !== undefined && m.width !== textWidth) {
      no(`width ${m.width} differs from the text encoder's ${textWidth}`);
      continue;
    }
    const inputs: EmbeddingInput[] = [];
    const problems: string[] = [];
    for (const ref of m.inputs ?? []) {
      const [ns, attr] = ref.split('.') as [string, string];
      const a: Attribute | undefined = entity.attributes?.find((x) => x.name === attr);
      if (ns !== m.entity || !a) problems.push(`input '${ref}' is not an attribute of '${m.entity}'`);
      else if (a.type !== 'string' && a.type !== 'string_list')
        problems.push(`input '${ref}' is ${a.type}: text inputs are string or string_list attributes`);
      else
        inputs.push({
          attribute: a.name,
          type: a.type,
          fallback: (a.default as string | string[] | undefined) ?? (a.type === 'string' ? '' : []),
        });
    }
    if (inputs.length === 0 && problems.length === 0) problems.push('no inputs');
    if (problems.length > 0) no(problems.join('; '));
    else specs.push({ name: m.name, entity: m.entity, key: entity.key, width: m.width, inputs });
  }
  return { specs, unsupported };
}

/** Each input's value in a record (the attribute's default, else empty, when absent or of another type). */
export function embeddingInputValues(
  spec: Pick<EntityEmbeddingSpec, 'inputs'>,
  record: Readonly<Record<string, unknown>>,
): (string | string[])[] {
  return spec.inputs.map((i) => {
    const v = record[i.attribute];
    if (i.type === 'string') return typeof v === 'string' ? v : (i.fallback as string);
    return Array.isArray(v) ? v.map(String) : [...(i.fallback as readonly string[])];
  });
}

/**
 * The hash that keys an entity's vector: SHA-256 of the inputs' values as a JSON array (no spaces).
 * The trainer computes the same from each entity version (mmctr_trainer/embeddings.py), so a version
 * finds the vector of its own content.
 */
export function embeddingContentHash(values: readonly (string | readonly string[])[]): string {
  return createHash('sha256').update(JSON.stringify(values)).digest('hex');
}

/** What embedding one entity version takes (the payload of an `embed-entity` job). */
export interface EntityEmbeddingWork {
  embedding: string;
  entity: string;
  key: string;
  ts_ms: number;
  content_hash: string;
  inputs: (string | string[])[];
}

/** The work of one record for one embedding: its key and time, its input values and their hash. */
export function entityEmbeddingWork(
  spec: Pick<EntityEmbeddingSpec, 'name' | 'entity' | 'key' | 'inputs'>,
  record: Readonly<Record<string, unknown>>,
): EntityEmbeddingWork {
  const inputs = embeddingInputValues(spec, record);
  return {
    embedding: spec.name,
    entity: spec.entity,
    key: String(record[spec.key]),
    ts_ms: Number(record.ts_ms),
    content_hash: embeddingContentHash(inputs),
    inputs,
  };
}

/**
 * What the text encoder reads: each input trimmed (a list's non-empty elements joined by ', '), the
 * non-empty ones joined by '. ' (as the catalogue's title, description and tags are).
 */
export function embeddingText(values: readonly (string | readonly string[])[]): string {
  return values
    .map((v) => (typeof v === 'string' ? v : v.filter(Boolean).join(', ')).trim())
    .filter(Boolean)
    .join('. ');
}
