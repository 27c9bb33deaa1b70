import type { AppConfig } from '@mmctr/config';
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import type { NormalisedRecord, RowEncoder } from '@mmctr/feature-repo';
import { ClickHouseError, type IsolationResult, type RejectedRow } from '@mmctr/clickhouse';
import type { DeadLetterInput } from '@mmctr/kafka';
import { createLogger } from '@mmctr/observability';
import { IngestMetrics } from '../metrics/ingest-metrics.service';
import type { PartitionChunk } from './chunk';
import type { DeadLetterRepository } from './dead-letter.repository';
import { FlowControl } from './flow-control';
import type { IngestOnlineRepository } from './ingest-online.repository';
import { IngestPipeline } from './ingest-pipeline.service';
import type { EntityStream, IngestSchema } from './ingest-schema';
import type { IngestRepository } from './ingest.repository';

const config = { INGEST_RETRY_INITIAL_MS: 1, INGEST_RETRY_MAX_MS: 2 } as AppConfig;
const TYPE_MISMATCH = new ClickHouseError('Code: 53. Cannot parse input', 53);
const connectionLost = () => new ClickHouseError('connect ECONNREFUSED 127.0.0.1:8123', undefined);

/**
 * In-memory stand-ins for the three repositories. Every call is appended to `calls` (to check the
 * order of the steps); `failures[target]` makes that many calls fail with a transient error first;
 * a row whose id is in `refused` is returned as rejected by its insert, as insertIsolatingPoison would.
 */
class FakeStores {
  readonly calls: string[] = [];
  readonly letters: DeadLetterInput[] = [];
  readonly histories: BehaviourEvent[] = [];
  readonly items: CatalogueItem[] = [];
  readonly entities: [string, NormalisedRecord][] = [];
  readonly failures: Partial<Record<'clickhouse' | 'redis' | 'dlq', number>> = {};
  readonly refused = new Set<string>();

  private attempt(target: 'clickhouse' | 'redis' | 'dlq', call: string): void {
    this.calls.push(call);
    const left = this.failures[target] ?? 0;
    if (left > 0) {
      this.failures[target] = left - 1;
      throw connectionLost();
    }
  }

  private isolate<T>(rows: readonly T[], id: (r: T) => string): IsolationResult<T> {
    const rejected: RejectedRow<T>[] = [];
    rows.forEach((row, index) => {
      if (this.refused.has(id(row))) rejected.push({ index, row, error: TYPE_MISMATCH });
    });
    return { rejected, inserts: rejected.length === 0 ? 1 : 1 + 2 * rejected.length };
  }

  readonly clickhouse = {
    insertRecords: async (encoder: RowEncoder, rows: readonly NormalisedRecord[]) => {
      this.attempt('clickhouse', `clickhouse ${encoder.table} ${rows.length}`);
      return this.isolate(rows, (r) => String(r.event_id ?? r.item_id ?? r.advertiser_id));
    },
    insertBatchLog: async () => undefined,
  } as unknown as IngestRepository;

  readonly online = {
    recordBehaviour: async (events: readonly BehaviourEvent[]) => {
      this.attempt('redis', `redis events ${events.length}`);
      this.histories.push(...events);
    },
    upsertItems: async (items: readonly CatalogueItem[]) => {
      this.attempt('redis', `redis items ${items.length}`);
      this.items.push(...items);
    },
    upsertEntities: async (stream: EntityStream, records: readonly NormalisedRecord[]) => {
      this.attempt('redis', `redis ${stream.entity.name} ${records.length}`);
      for (const r of records) this.entities.push([stream.entity.name, r]);
    },
  } as unknown as IngestOnlineRepository;

  readonly dlq = {
    send: async (letters: readonly DeadLetterInput[]) => {
      this.attempt('dlq', `dlq ${letters.length}`);
      this.letters.push(...letters);
      return { truncated: 0 };
    },
  } as unknown as DeadLetterRepository;
}

const stream = (table: string, entity: string, catalogue: boolean) =>
  ({ topic: table, encoder: { table }, entity: { name: entity }, catalogue }) as unknown as EntityStream;
const ITEMS = stream('items', 'item', true);
const ADVERTISERS = stream('advertisers', 'advertiser', false);
const schema = { events: { encoder: { table: 'events' } }, lists: [] } as unknown as IngestSchema;

function setUp() {
  const stores = new FakeStores();
  const flow = new FlowControl();
  const pauses: boolean[] = [];
  flow.onChange((paused) => pauses.push(paused));
  const metrics = new IngestMetrics();
  const pipeline = new IngestPipeline(
    config,
    createLogger('ingest', 'silent'),
    metrics,
    stores.clickhouse,
    stores.dlq,
    stores.online,
    flow,
    schema,
  );
  return { stores, flow, pauses, metrics, pipeline };
}

const event = (id: string): NormalisedRecord => ({
  schema_version: 1,
  event_id: id,
  type: 'click',
  ts_ms: Date.UTC(2026, 0, 1),
  user_id: `u-${id}`,
  item_id: 'i1',
  request_id: 'r1',
});

const item = (id: string): NormalisedRecord => ({
  schema_version: 1,
  item_id: id,
  ts_ms: Date.UTC(2026, 0, 1),
  title: `title ${id}`,
  description: '',
  category: 'shoes',
  tags: [],
  image: `https://img.example/${id}.jpg`,
});

/** One partition's chunk: `valid` at offsets first, first+1, ...; the undecodable ones after them. */
function chunk<T>(valid: T[], first = 100, undecodable = 0): PartitionChunk<T> {
  const validOffsets = valid.map((_, i) => String(first + i));
  const invalid = Array.from({ length: undecodable }, (_, i) => ({
    reason: 'bad JSON: Unexpected token',
    topic: 'events',
    partition: 3,
    offset: String(first + valid.length + i),
    key: null,
    value: Buffer.from('{'),
  }));
  return {
    topic: 'events',
    partition: 3,
    firstOffset: String(first),
    lastOffset: String(first + valid.length + undecodable - 1),
    generation: 1,
    valid,
    validOffsets,
    invalid,
  };
}

describe('IngestPipeline', () => {
  it('stores good events in ClickHouse, then Redis; dead-letters undecodable messages and refused rows', async () => {
    const { stores, metrics, pipeline, pauses } = setUp();
    stores.refused.add('e2');
    const result = await pipeline.storeEvents([chunk([event('e1'), event('e2'), event('e3')], 100, 2)]);

    expect(result).toMatchObject({ rows: 2, rejected: 1, invalid: 2 });
    // ClickHouse first; Redis only after it, with the accepted events only.
    expect(stores.calls[0]).toBe('clickhouse events 3');
    expect(stores.calls.slice(1).sort()).toEqual(['dlq 3', 'redis events 2']);
    expect(stores.histories.map((e) => e.event_id)).toEqual(['e1', 'e3']);
    expect(stores.letters.map((l) => [l.offset, l.reason])).toEqual([
      ['103', 'bad JSON: Unexpected token'],
      ['104', 'bad JSON: Unexpected token'],
      ['101', 'clickhouse: events insert refused the row (Code 53): Code: 53. Cannot parse input'],
    ]);
    const refused = stores.letters[2]!;
    expect(refused).toMatchObject({ topic: 'events', partition: 3, errorCode: 53 });
    expect(JSON.parse(refused.value!.toString())).toEqual(event('e2'));
    expect((await metrics.stored.get()).values[0]!.value).toBe(2);
    expect((await metrics.rejected.get()).values[0]!.value).toBe(1);
    expect(pauses).toEqual([]);
  });

  it('names the refused row of a multi-chunk flush by its own chunk and offset', async () => {
    const { stores, pipeline } = setUp();
    stores.refused.add('e5');
    const a = chunk([event('e1'), event('e2')], 10);
    const b = { ...chunk([event('e4'), event('e5')], 50), partition: 7 };
    await pipeline.storeEvents([a, b]);
    expect(stores.letters).toHaveLength(1);
    expect(stores.letters[0]).toMatchObject({ partition: 7, offset: '51' });
  });

  it('retries ClickHouse, Redis and the DLQ while they fail, pausing consumption until they recover', async () => {
    const { stores, metrics, pipeline, pauses, flow } = setUp();
    stores.failures.clickhouse = 2;
    stores.failures.redis = 1;
    stores.failures.dlq = 1;
    const result = await pipeline.storeEvents([chunk([event('e1'), event('e2')], 0, 1)]);

    expect(result).toMatchObject({ rows: 2, rejected: 0, invalid: 1 });
    expect(stores.calls.filter((c) => c.startsWith('clickhouse'))).toHaveLength(3);
    expect(stores.calls.filter((c) => c.startsWith('redis'))).toHaveLength(2);
    expect(stores.calls.filter((c) => c.startsWith('dlq'))).toHaveLength(2);
    // Every event is stored once it recovers, in ClickHouse before Redis.
    expect(stores.calls.indexOf('clickhouse events 2')).toBeLessThan(stores.calls.indexOf('redis events 2'));
    expect(stores.histories.map((e) => e.event_id)).toEqual(['e1', 'e2']);
    expect(stores.letters).toHaveLength(1);
    expect(pauses[0]).toBe(true);
    expect(pauses[pauses.length - 1]).toBe(false);
    expect(flow.paused).toBe(false);
    const retries: Record<string, number> = Object.fromEntries(
      (await metrics.retries.get()).values.map((v) => [String(v.labels.target), v.value]),
    );
    expect(retries).toEqual({ clickhouse: 2, redis: 1, 'kafka-dlq': 1 });
  });

  it('upserts accepted items into Redis after ClickHouse and keeps refused ones out of it', async () => {
    const { stores, pipeline } = setUp();
    stores.refused.add('bad');
    const result = await pipeline.storeEntities(ITEMS, [chunk([item('a'), item('bad'), item('c')], 5)]);

    expect(result).toMatchObject({ rows: 2, rejected: 1, invalid: 0 });
    expect(stores.calls[0]).toBe('clickhouse items 3');
    expect(stores.items.map((i) => i.item_id)).toEqual(['a', 'c']);
    expect(stores.letters).toHaveLength(1);
    expect(stores.letters[0]).toMatchObject({ offset: '6', errorCode: 53 });
    expect(stores.letters[0]!.reason).toMatch(/^clickhouse: items insert refused the row \(Code 53\)/);
  });

  it('writes other snapshot entities to their own table and online hash', async () => {
    const { stores, pipeline } = setUp();
    const advertiser = { schema_version: 1, advertiser_id: 'a1', ts_ms: 1, industry: 'retail' };
    const result = await pipeline.storeEntities(ADVERTISERS, [chunk([advertiser])]);
    expect(result).toMatchObject({ rows: 1, rejected: 0, invalid: 0 });
    expect(stores.calls).toEqual(['clickhouse advertisers 1', 'redis advertiser 1']);
    expect(stores.entities).toEqual([['advertiser', advertiser]]);
    expect(stores.items).toEqual([]);
  });

  it('stops retrying once retries are abandoned (shutdown), so the flush stays uncommitted', async () => {
    const { stores, pipeline } = setUp();
    stores.failures.clickhouse = Number.MAX_SAFE_INTEGER;
    const storing = pipeline.storeEvents([chunk([event('e1')])]);
    pipeline.abandonRetries();
    await expect(storing).rejects.toThrow('ECONNREFUSED');
    expect(stores.histories).toEqual([]);
  });
});
