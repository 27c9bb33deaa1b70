import {
  embeddingStore,
  historySequences,
  modelLayout,
  type CategoricalSlot,
  type AttributeType,
  type EmbeddingStore,
  type FeatureRepo,
  type GraphInput,
  type InputGroup,
  type ModelLayout,
  type MultiSlot,
  type NumericSlot,
  type SequenceLayout,
  type VectorSlot,
} from '@mmctr/feature-repo';
import { keyText } from '@mmctr/aggregates';
import { attributeDefault, splitSource } from '@mmctr/features';

/** The running repository's layout cannot be served by this scorer (a source it has no data for). */
export class UnservableLayoutError extends Error {}

/**
 * The entity ingest keeps as its catalogue: its rows in the `item:` hashes, its content embedded by the
 * embedder (item_embeddings). Every other snapshot entity is an `ent:<entity>:` hash without vectors.
 */
export const CATALOGUE_ENTITY = 'item';

/** A slot the item cache precomputes per cached item (candidate- and sequence-side slots share one). */
export type ItemSlot =
  | { kind: 'cat'; key: string; attr: string; slot: CategoricalSlot }
  | {
      kind: 'num';
      key: string;
      attr: string;
      slot: NumericSlot;
      fallback: ReturnType<typeof attributeDefault>;
    }
  | { kind: 'multi'; key: string; attr: string; slot: MultiSlot };

/** Where an input of the layout sits: once per request (user, sequences) or once per candidate. */
export interface LayoutInput extends GraphInput {
  side: 'request' | 'candidate';
  /** Values per row: the product of the dimensions after the batch one. */
  rowSize: number;
  /** The dimensions after the batch one. */
  rowShape: number[];
}

export interface EntityAttribute {
  name: string;
  type: AttributeType;
}

/** A sequence as the scorer fills it: its behaviour list (as ingest writes it) and its target entity. */
export interface ServedSequence {
  name: string;
  /** Inserted after `hist:` in the list's key ('' for the first sequence). */
  keyInfix: string;
  length: number;
  target: string;
  /** The target is the candidate entity: its rows come from the item cache. */
  itemTarget: boolean;
}

/** Where one element of an aggregation key comes from in a request. */
export type AggregateKeyPart =
  | { from: 'requester' }
  | { from: 'candidate' }
  /** An attribute of the candidate: index in ServingLayout.aggregateKeyAttributes. */
  | { from: 'candidate_attribute'; index: number };

/** A window of an aggregation the layout's slots read (one or more slots of one side). */
export interface ServedAggregate {
  aggregation: string;
  window: string;
  /** `<aggregation>@<window>`: its name in the score log. */
  name: string;
  /** The user side's value is one per request, the candidate side's one per candidate. */
  side: 'user' | 'candidate';
  /** The aggregation's key declaration (`user+item.category`). */
  spec: string;
  key: AggregateKeyPart[];
}

/** A candidate attribute an aggregation key reads, and its text when the item has none (ingest's fallback). */
export interface AggregateKeyAttribute {
  name: string;
  fallback: string;
}

/** Whether a slot reads an aggregate window (`aggregate.<aggregation>`). */
export const isAggregateSlot = (slot: { source: string }): boolean =>
  splitSource(slot.source)[0] === 'aggregate';

/**
 * What the scorer serves from the running feature repository: its model-input layout (every model's
 * ONNX signature), which slots read the candidate entity (the item cache precomputes those), which
 * entities a request reads in raw form (the requester's hash, entities joined `via` a key attribute,
 * sequence targets other than the candidate entity) and which embedding the item cache holds (the
 * catalogue's fused vectors, or another candidate entity's embedding from entity_embeddings; other
 * vector slots read zeros).
 */
export class ServingLayout {
  readonly layout: ModelLayout;
  readonly version: string;
  readonly inputs: LayoutInput[];
  readonly candidateEntity: string;
  readonly candidateKey: string;
  readonly requesterEntity: string;
  readonly requesterKey: string;
  /**
   * The candidate entity's embedding the item cache holds and where it is stored (undefined: no vector
   * slot reads a stored one).
   */
  readonly embedding: { name: string; width: number; store: EmbeddingStore } | undefined;
  /** Declared embeddings the layout reads that no store holds (they read as zeros), by name. */
  readonly unstoredEmbeddings: string[];
  /** Distinct item-reading slot encodings, in first-use order. */
  readonly itemSlots: ItemSlot[] = [];
  /** The sequences of the layout, in layout order. */
  readonly sequences: ServedSequence[];
  /** The candidate entity's attributes the item cache keeps (its key aside), with their types. */
  readonly itemAttributes: EntityAttribute[];
  /** Candidate entity attributes that join other entities (`ad.advertiser_id`): kept raw per item. */
  readonly itemJoinAttributes: string[];
  /** The requester's attributes slots read (empty: its hash is not read). */
  readonly requesterAttributes: EntityAttribute[];
  /** Other entities read raw (joined, or a sequence's target), with the attributes read of each. */
  readonly entityAttributes: ReadonlyMap<string, EntityAttribute[]>;
  /** Whether a request reads joined entities (a second round trip after its rows are known). */
  readonly joins: boolean;
  /** The candidate entity's table in the offline store. */
  readonly itemTable: string;
  /** Whether the candidate entity is ingest's catalogue (its `item:` hash) or an `ent:` hash. */
  readonly catalogue: boolean;
  /** The aggregate windows the layout reads, user side first, in slot order. */
  readonly aggregates: ServedAggregate[] = [];
  /** Candidate attributes aggregation keys read (`item.category`): the item cache keeps their key text. */
  readonly aggregateKeyAttributes: AggregateKeyAttribute[] = [];

  constructor(readonly repo: FeatureRepo) {
    this.layout = modelLayout(repo);
    this.version = repo.version;
    this.candidateEntity = this.layout.candidate_entity;
    this.requesterEntity = this.layout.request_entity;
    this.candidateKey = keyOf(repo, this.candidateEntity);
    this.requesterKey = keyOf(repo, this.requesterEntity);
    this.catalogue = this.candidateEntity === CATALOGUE_ENTITY;
    this.inputs = this.layout.inputs.map((i) => {
      const rowShape = i.shape.slice(1).map(Number);
      return {
        ...i,
        side: i.shape[0] === 'B' ? 'candidate' : 'request',
        rowShape,
        rowSize: rowShape.reduce((n, d) => n * d, 1),
      };
    });
    this.embedding = this.storedEmbedding();
    const groups = this.groups();
    this.unstoredEmbeddings = [
      ...new Set(
        groups.flatMap((g) => g.vector.filter((s) => !this.readsStoredVector(s)).map((s) => s.embedding)),
      ),
    ];
    for (const g of [this.layout.candidate, ...this.layout.sequences]) {
      for (const s of g.categorical) if (this.readsItem(s)) this.itemSlot('cat', s);
      for (const s of g.numeric) if (this.readsItem(s)) this.itemSlot('num', s);
      for (const s of g.multi_categorical) if (this.readsItem(s)) this.itemSlot('multi', s);
    }
    this.sequences = this.servedSequences();
    const entity = repo.entities.find((e) => e.name === this.candidateEntity)!;
    this.itemTable = entity.table ?? entity.name;
    this.servedAggregates();

    const reads = this.rawReads(groups);
    this.itemJoinAttributes = [...(reads.get(this.candidateEntity) ?? [])];
    reads.delete(this.candidateEntity);
    this.itemAttributes = this.typed(this.candidateEntity, [
      ...new Set([
        ...this.itemSlots.map((s) => s.attr),
        ...this.itemJoinAttributes,
        ...this.aggregateKeyAttributes.map((a) => a.name),
      ]),
    ]);
    this.requesterAttributes = this.typed(this.requesterEntity, [...(reads.get(this.requesterEntity) ?? [])]);
    reads.delete(this.requesterEntity);
    this.entityAttributes = new Map([...reads].map(([e, attrs]) => [e, this.typed(e, [...attrs])]));
    this.joins = groups.some((g) => slotsOf(g).some((s) => s.via));
  }

  /** Index in itemSlots of a slot reading the candidate entity. */
  itemSlotIndex(slot: CategoricalSlot | NumericSlot | MultiSlot): number {
    return this.itemSlots.findIndex((s) => s.key === slotKey(slot));
  }

  /** Whether a slot reads the candidate entity row itself (the item cache's precomputed columns). */
  readsItem(slot: { source: string; via?: string }): boolean {
    return !slot.via && splitSource(slot.source)[0] === this.candidateEntity;
  }

  /** Whether a vector slot reads the embedding the item cache holds (else it reads zeros). */
  readsStoredVector(s: VectorSlot): boolean {
    return !s.via && s.entity === this.candidateEntity && s.embedding === this.embedding?.name;
  }

  /** Whether an item slot reads the entity key (known even for items the cache has not seen). */
  isKeySlot(s: ItemSlot): boolean {
    return s.attr === this.candidateKey;
  }

  /** The key attribute of an entity. */
  keyOf(entity: string): string {
    return keyOf(this.repo, entity);
  }

  /** The index in `aggregates` of an aggregate slot's window. */
  aggregateIndex(slot: { source: string; window?: string }): number {
    const name = `${splitSource(slot.source)[1]}@${slot.window ?? ''}`;
    return this.aggregates.findIndex((a) => a.name === name);
  }

  /** The aggregate windows of the user and candidate slots, and how each key element is read. */
  private servedAggregates(): void {
    const sides = [
      ['user', this.layout.user],
      ['candidate', this.layout.candidate],
    ] as const;
    for (const [side, group] of sides)
      for (const s of [...group.categorical, ...group.numeric]) {
        if (!isAggregateSlot(s)) continue;
        const aggregation = splitSource(s.source)[1];
        const name = `${aggregation}@${s.window}`;
        if (this.aggregates.some((a) => a.name === name)) continue;
        const a = this.repo.aggregations?.find((x) => x.name === aggregation);
        if (!a || !s.window)
          throw new UnservableLayoutError(`features.${s.feature}: no aggregation window '${name}'`);
        const key = a.key.map((part) => this.aggregateKeyPart(s.feature, side, part));
        this.aggregates.push({ aggregation, window: s.window, name, side, spec: a.key.join('+'), key });
      }
  }

  /**
   * A key element: the requester's key, the candidate's key, or (candidate side) a candidate
   * attribute, written as ingest writes it (libs/aggregates keyText; the attribute's default, else its
   * type's zero, when the item has none).
   */
  private aggregateKeyPart(feature: string, side: 'user' | 'candidate', part: string): AggregateKeyPart {
    const [entity, attr] = part.split('.') as [string, string | undefined];
    const isKey = attr === undefined || attr === this.keyOf(entity);
    if (isKey && entity === this.requesterEntity) return { from: 'requester' };
    if (isKey && entity === this.candidateEntity && side === 'candidate') return { from: 'candidate' };
    if (!isKey && entity === this.candidateEntity && side === 'candidate') {
      let index = this.aggregateKeyAttributes.findIndex((a) => a.name === attr);
      if (index < 0) {
        const declared = this.repo.entities
          .find((e) => e.name === entity)
          ?.attributes?.find((x) => x.name === attr);
        const zero = declared?.type === 'int' ? 0 : declared?.type === 'bool' ? false : '';
        index =
          this.aggregateKeyAttributes.push({ name: attr, fallback: keyText(declared?.default ?? zero) }) - 1;
      }
      return { from: 'candidate_attribute', index };
    }
    throw new UnservableLayoutError(
      `features.${feature}: the scorer cannot read the aggregation key element '${part}' (it reads the requester's and the candidate's keys and the candidate's attributes)`,
    );
  }

  private groups(): InputGroup[] {
    return [this.layout.user, this.layout.candidate, ...this.layout.sequences];
  }

  private itemSlot(kind: ItemSlot['kind'], slot: CategoricalSlot | NumericSlot | MultiSlot): void {
    const key = slotKey(slot);
    if (this.itemSlots.some((s) => s.key === key)) return;
    const attr = splitSource(slot.source)[1];
    if (kind === 'num')
      this.itemSlots.push({
        kind,
        key,
        attr,
        slot: slot as NumericSlot,
        fallback: attributeDefault(this.repo, slot.source),
      });
    else if (kind === 'cat') this.itemSlots.push({ kind, key, attr, slot: slot as CategoricalSlot });
    else this.itemSlots.push({ kind, key, attr, slot: slot as MultiSlot });
  }

  /**
   * The embedding the item cache holds: the first stored one (libs/feature-repo embeddingStore) of the
   * candidate entity that a candidate- or sequence-side vector slot reads without a join.
   */
  private storedEmbedding(): { name: string; width: number; store: EmbeddingStore } | undefined {
    for (const slot of [this.layout.candidate, ...this.layout.sequences].flatMap((g) => g.vector)) {
      if (slot.via || slot.entity !== this.candidateEntity) continue;
      const declared = this.repo.embeddings?.find((e) => e.name === slot.embedding);
      const store = declared && embeddingStore(declared);
      if (store) return { name: slot.embedding, width: declared.width, store };
    }
    return undefined;
  }

  /** Each sequence with the list ingest writes for it (historySequences: one list per user-owned sequence). */
  private servedSequences(): ServedSequence[] {
    const lists = new Map(historySequences(this.repo).map((h) => [h.name, h.keyInfix]));
    return this.layout.sequences.map((s: SequenceLayout) => {
      const keyInfix = lists.get(s.name);
      if (keyInfix === undefined)
        throw new UnservableLayoutError(
          `features.${s.name}: no behaviour list is kept for this sequence (owner '${s.owner}')`,
        );
      return {
        name: s.name,
        keyInfix,
        length: s.length,
        target: s.target,
        itemTarget: s.target === this.candidateEntity,
      };
    });
  }

  /**
   * Attributes read raw, by entity: the row entity's own attributes read by slots outside the item
   * cache, the join attributes (`via`) on the row entity, and each joined entity's attributes.
   */
  private rawReads(groups: InputGroup[]): Map<string, Set<string>> {
    const reads = new Map<string, Set<string>>();
    const add = (entity: string, attr: string) => {
      if (attr === this.keyOf(entity)) return;
      let set = reads.get(entity);
      if (!set) reads.set(entity, (set = new Set()));
      set.add(attr);
    };
    for (const g of groups)
      for (const s of slotsOf(g)) {
        const [ns, attr] = splitSource(s.source);
        if (ns === 'context' || ns === 'aggregate' || this.readsItem(s)) continue;
        if (s.via) {
          const [side, join] = splitSource(s.via);
          add(side, join);
        }
        add(ns, attr);
      }
    for (const g of groups) for (const v of g.vector) if (v.via) add(...splitSource(v.via));
    for (const s of this.layout.sequences)
      if (s.target !== this.candidateEntity) reads.set(s.target, reads.get(s.target) ?? new Set());
    return reads;
  }

  private typed(entity: string, names: string[]): EntityAttribute[] {
    const declared = this.repo.entities.find((e) => e.name === entity)?.attributes;
    return names
      .filter((n) => n !== this.keyOf(entity))
      .map((name) => ({ name, type: declared?.find((a) => a.name === name)?.type ?? 'string' }));
  }
}

/** The slots of a group that read a source (vectors aside). */
export function slotsOf(g: InputGroup): (CategoricalSlot | NumericSlot | MultiSlot)[] {
  return [...g.categorical, ...g.numeric, ...g.multi_categorical];
}

function keyOf(repo: FeatureRepo, entity: string): string {
  const key = repo.entities.find((e) => e.name === entity)?.key;
  if (!key) throw new UnservableLayoutError(`entity '${entity}' is not declared`);
  return key;
}

/** Two slots with the same key encode an item alike (a candidate feature and its sequence twin). */
function slotKey(slot: CategoricalSlot | NumericSlot | MultiSlot): string {
  const { feature: _feature, ...rest } = slot as CategoricalSlot & { offset?: number };
  delete rest.offset;
  return JSON.stringify(rest);
}
