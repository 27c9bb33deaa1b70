import {
  modelLayout,
  type CategoricalSlot,
  type AttributeType,
  type FeatureRepo,
  type GraphInput,
  type ModelLayout,
  type MultiSlot,
  type NumericSlot,
  type SequenceLayout,
  type VectorSlot,
} from '@mmctr/feature-repo';
import { attributeDefault, splitSource } from '@mmctr/features';

/** The running repository's layout cannot be served by this scorer (a source it has no data for). */
export class UnservableLayoutError extends Error {}

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

/**
 * What the scorer serves from the running feature repository: its model-input layout (every model's
 * ONNX signature), which slots read the candidate entity (the item cache precomputes those) and which
 * embedding the cache holds. Sources the scorer has no data for are refused up front, by name: entities
 * other than the candidate's (except the requester's key), joined (`via`) entities, sequences over
 * another target.
 */
export class ServingLayout {
  readonly layout: ModelLayout;
  readonly version: string;
  readonly inputs: LayoutInput[];
  readonly candidateEntity: string;
  readonly candidateKey: string;
  readonly requesterEntity: string;
  readonly requesterKey: string;
  /** The candidate entity's embedding the item cache holds (undefined: no vector slot reads one). */
  readonly embedding: { name: string; width: number } | undefined;
  /** Distinct item-reading slot encodings, in first-use order. */
  readonly itemSlots: ItemSlot[] = [];
  /** Entries fetched from the requester's history: the longest sequence. */
  readonly historyLength: number;
  /** The candidate entity's attributes the item slots read (its key aside), with their types. */
  readonly itemAttributes: { name: string; type: AttributeType }[];
  /** The candidate entity's table in the offline store. */
  readonly itemTable: string;

  constructor(readonly repo: FeatureRepo) {
    this.layout = modelLayout(repo);
    this.version = repo.version;
    this.candidateEntity = this.layout.candidate_entity;
    this.requesterEntity = this.layout.request_entity;
    this.candidateKey = keyOf(repo, this.candidateEntity);
    this.requesterKey = keyOf(repo, this.requesterEntity);
    this.inputs = this.layout.inputs.map((i) => {
      const rowShape = i.shape.slice(1).map(Number);
      return {
        ...i,
        side: i.shape[0] === 'B' ? 'candidate' : 'request',
        rowShape,
        rowSize: rowShape.reduce((n, d) => n * d, 1),
      };
    });
    this.embedding = this.checkVectors();
    for (const s of this.layout.sequences) this.checkSequence(s);
    for (const g of [this.layout.candidate, ...this.layout.sequences]) {
      for (const s of g.categorical) if (this.readsItem(s)) this.itemSlot('cat', s);
      for (const s of g.numeric) if (this.readsItem(s)) this.itemSlot('num', s);
      for (const s of g.multi_categorical) if (this.readsItem(s)) this.itemSlot('multi', s);
    }
    this.checkRequestSide();
    this.historyLength = Math.max(0, ...this.layout.sequences.map((s) => s.length));
    const entity = repo.entities.find((e) => e.name === this.candidateEntity)!;
    this.itemTable = entity.table ?? entity.name;
    this.itemAttributes = [...new Set(this.itemSlots.map((s) => s.attr))]
      .filter((a) => a !== this.candidateKey)
      .map((name) => ({ name, type: entity.attributes?.find((a) => a.name === name)?.type ?? 'string' }));
  }

  /** Index in itemSlots of a slot reading the candidate entity. */
  itemSlotIndex(slot: CategoricalSlot | NumericSlot | MultiSlot): number {
    return this.itemSlots.findIndex((s) => s.key === slotKey(slot));
  }

  /** Whether a slot reads the candidate entity row itself; throws for a joined one. */
  readsItem(slot: { feature: string; source: string; via?: string }): boolean {
    const [ns] = splitSource(slot.source);
    if (slot.via)
      throw new UnservableLayoutError(
        `features.${slot.feature}: '${slot.source}' is joined via ${slot.via}; the scorer serves only the ${this.candidateEntity} row of a candidate`,
      );
    return ns === this.candidateEntity;
  }

  /** Whether an item slot reads the entity key (known even for items the cache has not seen). */
  isKeySlot(s: ItemSlot): boolean {
    return s.attr === this.candidateKey;
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

  /** One embedding of the candidate entity, read without a join, for every vector slot. */
  private checkVectors(): { name: string; width: number } | undefined {
    const slots: VectorSlot[] = [this.layout.candidate, ...this.layout.sequences].flatMap((g) => g.vector);
    slots.push(...this.layout.user.vector);
    for (const s of slots) {
      if (s.via || s.entity !== this.candidateEntity)
        throw new UnservableLayoutError(
          `features.${s.feature}: embedding '${s.embedding}' of ${s.entity}; the scorer holds embeddings of ${this.candidateEntity} only`,
        );
      if (s.embedding !== slots[0]!.embedding)
        throw new UnservableLayoutError(
          `features.${s.feature}: embedding '${s.embedding}'; the scorer holds one embedding per item ('${slots[0]!.embedding}')`,
        );
    }
    if (slots.length === 0) return undefined;
    const name = slots[0]!.embedding;
    const width = this.repo.embeddings?.find((e) => e.name === name)?.width ?? slots[0]!.width;
    return { name, width };
  }

  private checkSequence(s: SequenceLayout): void {
    if (s.target !== this.candidateEntity)
      throw new UnservableLayoutError(
        `features.${s.name}: a sequence of ${s.target}; the scorer's history holds ${this.candidateEntity} ids`,
      );
    if (this.layout.sequences.length > 1)
      throw new UnservableLayoutError(
        `features.${s.name}: the scorer fills one sequence from the requester's history, the repository has ${this.layout.sequences.length}`,
      );
    for (const slot of [...s.categorical, ...s.numeric, ...s.multi_categorical])
      if (!this.readsItem(slot))
        throw new UnservableLayoutError(
          `features.${s.name}: side feature ${slot.feature} does not read ${s.target}`,
        );
  }

  /** Request-side slots read the request's context or the requester's key. */
  private checkRequestSide(): void {
    const u = this.layout.user;
    for (const slot of [...u.categorical, ...u.numeric, ...u.multi_categorical]) {
      const [ns, attr] = splitSource(slot.source);
      if (ns === 'context' || (ns === this.requesterEntity && attr === this.requesterKey && !slot.via))
        continue;
      throw new UnservableLayoutError(
        `features.${slot.feature}: '${slot.source}'; the scorer knows the request's context and the ${this.requesterEntity}'s key only`,
      );
    }
    for (const slot of [...this.layout.candidate.categorical, ...this.layout.candidate.numeric]) {
      const [ns] = splitSource(slot.source);
      if (ns !== 'context' && !this.readsItem(slot))
        throw new UnservableLayoutError(
          `features.${slot.feature}: '${slot.source}'; candidate slots read the ${this.candidateEntity} or the candidate's context`,
        );
    }
    for (const slot of this.layout.candidate.multi_categorical)
      if (!this.readsItem(slot))
        throw new UnservableLayoutError(
          `features.${slot.feature}: '${slot.source}' is not an ${this.candidateEntity} attribute`,
        );
  }
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
