// The scorer serving the ad-platform repository end to end on the real stack: the repository applied
// to a fresh database, its events and entity snapshots ingested through Kafka by apps/ingest (a child
// process), a model whose ONNX signature is the ad-platform layout (an untrained trainer model, exported
// by the trainer's own export), one scored request, and its score_log row: the context, each
// candidate's context and both sequences as the scorer used them, and CTRs equal to the training
// encoder's on what ingest stored.
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Producer } from 'kafkajs';
import type { RawRecord } from '@mmctr/features';
import {
  REPO,
  offlineScore,
  registerModel,
  scorerSuite,
  waitFor,
} from '../../apps/scorer/test/support/scorer-harness';
import { uniqueName } from '../support/clients';
import { deleteTopicsStartingWith } from '../support/kafka-group';
import { AD_PLATFORM } from '../support/feature-repo/ad-platform';
import { ingestSuite } from '../support/ingest/suite';
import type { IsolatedNames } from '../support/ingest/fixtures';

jest.setTimeout(600_000);

const run = promisify(execFile);
const WORK = join(REPO, '.cache', 'scorer-test-models', uniqueName('ad-platform'));
const T0 = Date.UTC(2026, 0, 1);

// An untrained LR of the repository's layout, written with the trainer's export (every layout input
// kept in the signature) and its layout.json.
const EXPORT_MODEL = `
import json, sys
from pathlib import Path
import torch
from mmctr_trainer.config import TrainerConfig
from mmctr_trainer.export import export_onnx
from mmctr_trainer.feature_repo import load_feature_repo
from mmctr_trainer.models import build_model
from mmctr_trainer.schema import ModelSchema
out = Path(sys.argv[2])
torch.manual_seed(3)
schema = ModelSchema.from_repo(load_feature_repo(sys.argv[1]))
export_onnx(build_model("lr", schema, TrainerConfig().model("lr")).eval(), out / "model.onnx")
(out / "layout.json").write_text(json.dumps(schema.layout))
`;

async function adPlatformModel(): Promise<string> {
  const dir = join(WORK, 'lr');
  await mkdir(dir, { recursive: true });
  await run(join(REPO, '.venv', 'bin', 'python'), ['-c', EXPORT_MODEL, AD_PLATFORM, dir], {
    cwd: join(REPO, 'apps', 'trainer'),
  });
  return dir;
}

/** An ad's declared defaults (what ingest stores for attributes a snapshot leaves out). */
const AD_DEFAULTS = { format: 'banner', keywords: [], landing_domain: '', creative_url: '' };

const event = (names: IsolatedNames, n: number, type: string, user: string, ad: string) => ({
  schema_version: 1,
  event_id: `${names.id}-e${n}`,
  type,
  ts_ms: T0 + n * 1_000,
  user_id: user,
  ad_id: ad,
  auction_id: `a${n}`,
});

describe('scorer serving the ad-platform repository (Kafka -> ingest -> Redis/ClickHouse -> scorer -> score_log)', () => {
  const ingest = ingestSuite();
  const entityPattern = `mmctr.test.${uniqueName('ads-scorer').replace(/_/g, '-')}.{table}`;
  const suite = scorerSuite({ FEATURE_REPO: AD_PLATFORM, KAFKA_TOPIC_ENTITY_PATTERN: entityPattern });
  let producer: Producer;
  let names: IsolatedNames;
  let model: string;

  beforeAll(async () => {
    producer = ingest.kafka().producer();
    await producer.connect();
    model = await adPlatformModel();
  });
  afterAll(async () => {
    await producer.disconnect();
    await deleteTopicsStartingWith(ingest.kafka(), entityPattern.replace('{table}', ''));
    await rm(WORK, { recursive: true, force: true });
  });

  const send = (topic: string, values: readonly unknown[]) =>
    producer.send({ topic, messages: values.map((v) => ({ value: JSON.stringify(v) })) });
  const entityTopic = (table: string) => entityPattern.replace('{table}', table);

  /** Ingest (on the scorer's database and the test's topics) fed events and snapshots; waits until Redis has them. */
  async function ingestAdPlatform(): Promise<Record<string, unknown>[]> {
    names = await ingest.names('ads-scorer');
    await ingest.startIngest(names, {
      FEATURE_REPO: AD_PLATFORM,
      CLICKHOUSE_DATABASE: suite.env.database,
      KAFKA_TOPIC_ENTITY_PATTERN: entityPattern,
    });
    const events = [
      { ...event(names, 1, 'ad_impression', 'u1', 'ad1'), slot: 1, network: 'wifi' },
      event(names, 2, 'ad_click', 'u1', 'ad1'),
      event(names, 3, 'ad_click', 'u1', 'ad2'),
      event(names, 4, 'install', 'u1', 'ad3'),
      { ...event(names, 5, 'purchase', 'u1', 'ad1'), revenue: 9.5 },
      event(names, 6, 'ad_click', 'u2', 'ad3'),
    ];
    await send(names.env.KAFKA_TOPIC_EVENTS, events);
    const ts = T0;
    await send(entityTopic('user_profiles'), [
      {
        schema_version: 1,
        user_id: 'u1',
        ts_ms: ts,
        age_band: '25-34',
        interests: ['games'],
        is_premium: true,
      },
    ]);
    await send(entityTopic('advertisers'), [
      { schema_version: 1, advertiser_id: 'adv1', ts_ms: ts, industry: 'retail', quality_score: 0.8 },
      { schema_version: 1, advertiser_id: 'adv2', ts_ms: ts, industry: 'games' },
    ]);
    await send(entityTopic('campaigns'), [
      { schema_version: 1, campaign_id: 'c1', ts_ms: ts, objective: 'installs', bid_cpm: 2.5 },
    ]);
    const ad = (id: string, advertiser: string, campaign: string, keywords: string[]) => ({
      schema_version: 1,
      ad_id: id,
      ts_ms: ts,
      advertiser_id: advertiser,
      campaign_id: campaign,
      format: 'video',
      keywords,
    });
    await send(entityTopic('ads'), [
      ad('ad1', 'adv1', 'c1', ['shoes']),
      ad('ad2', 'adv2', 'c1', []),
      ad('ad3', 'adv2', 'c2', ['x', 'y']),
    ]);
    const redis = ingest.redis();
    const prefix = names.env.REDIS_KEY_PREFIX;
    await waitFor(
      'the events and snapshots in Redis',
      async () =>
        (await redis.zcard(`${prefix}hist:u1`)) === 2 &&
        (await redis.zcard(`${prefix}hist:conversion_history:u1`)) === 2 &&
        (await redis.exists(
          `${prefix}ent:user:u1`,
          `${prefix}ent:advertiser:adv2`,
          `${prefix}ent:campaign:c1`,
          `${prefix}ent:ad:ad3`,
        )) === 4,
      120_000,
    );
    return events;
  }

  async function scoredRow(requestId: string) {
    return waitFor('the request in score_log', async () => {
      const [row] = await suite.env.ch.query<Record<string, unknown>>(
        `SELECT user_id, item_ids, positions, history_item_ids, history_ts_ms, device, context_json,
                candidate_context_json, sequences_json, degraded
         FROM score_log FINAL WHERE request_id = {id:String}`,
        { id: requestId },
      );
      return row;
    });
  }

  it('scores a request with the profile, the joins and both sequences, and logs what it used', async () => {
    const events = await ingestAdPlatform();
    await registerModel(suite.env.ch, 'ads-lr-1', model, 'production');
    const scorer = await suite.start({ REDIS_KEY_PREFIX: names.env.REDIS_KEY_PREFIX });
    await scorer.waitServing('ads-lr-1');
    expect(scorer.logged('no vectors are stored for these embeddings; their slots read zeros')).toEqual([
      expect.objectContaining({ embeddings: ['creative'], entity: 'ad' }),
    ]);

    const tsMs = T0 + 3_600_000;
    const res = await scorer.score<{ scores: { item_id: string; ctr: number }[]; degraded: boolean }>({
      request_id: 'ads-req-1',
      user_id: 'u1',
      ts_ms: tsMs,
      context: { app_bundle: 'com.example.game', network: '4g', floor_price: 1.5 },
      candidates: [{ item_id: 'ad2', slot: 3 }, { item_id: 'ad1' }, { item_id: 'ad-unknown', slot: 1 }],
    });
    expect(res.status).toBe(200);
    expect(res.body.degraded).toBe(false);
    expect(res.body.scores.map((s) => s.item_id)).toEqual(['ad2', 'ad1', 'ad-unknown']);
    expect(res.body.scores.every((s) => s.ctr > 0 && s.ctr < 1)).toBe(true);

    // The served CTRs are the training encoder's on what ingest stored: the profile (ingest filled its
    // defaults), the joined advertiser and campaign rows (c2 was never sent: defaults), both sequences.
    const adRow = (id: string, advertiser: string, campaign: string, keywords: string[]): RawRecord => ({
      row: {
        ...AD_DEFAULTS,
        ad_id: id,
        advertiser_id: advertiser,
        campaign_id: campaign,
        format: 'video',
        keywords,
      },
    });
    const ads: Record<string, RawRecord> = {
      ad1: adRow('ad1', 'adv1', 'c1', ['shoes']),
      ad2: adRow('ad2', 'adv2', 'c1', []),
      ad3: adRow('ad3', 'adv2', 'c2', ['x', 'y']),
    };
    const entries = (types: string[]) =>
      events
        .filter((e) => e.user_id === 'u1' && types.includes(e.type as string))
        .reverse()
        .map((e) => ({ ...ads[e.ad_id as string], ts_ms: e.ts_ms as number }));
    const offline = await offlineScore(
      model,
      {
        ts_ms: tsMs,
        user: {
          row: {
            user_id: 'u1',
            age_band: '25-34',
            gender: '',
            interests: ['games'],
            account_age_days: 0,
            lifetime_spend: 0,
            is_premium: true,
          },
        },
        context: { app_bundle: 'com.example.game', os_version: '', network: '4g', floor_price: 1.5 },
        joined: {
          advertiser: {
            adv1: { row: { industry: 'retail', quality_score: 0.8 } },
            adv2: { row: { industry: 'games', quality_score: 0.5 } },
          },
          campaign: { c1: { row: { objective: 'installs', daily_budget: 0, bid_cpm: 2.5 } } },
        },
        sequences: {
          click_history: entries(['ad_click']),
          conversion_history: entries(['install', 'purchase']),
        },
        candidates: [
          { ...ads.ad2, context: { slot: 3 } },
          { ...ads.ad1, context: { slot: 0 } },
          { row: { ...AD_DEFAULTS, ad_id: 'ad-unknown' }, context: { slot: 1 } },
        ],
      },
      { FEATURE_REPO: AD_PLATFORM },
    );
    res.body.scores.forEach((s, i) => expect(s.ctr).toBeCloseTo(offline[i]!, 6));
    // The (random) weights tell the candidates apart: the comparison is not one of constants.
    expect(new Set(offline.map((c) => c.toFixed(6))).size).toBe(3);

    const row = await scoredRow('ads-req-1');
    const list = (types: string[]) => {
      const picked = events.filter((e) => e.user_id === 'u1' && types.includes(e.type as string)).reverse();
      return { keys: picked.map((e) => e.ad_id), ts_ms: picked.map((e) => e.ts_ms) };
    };
    const clicks = list(['ad_click']);
    expect({
      ...row,
      context_json: JSON.parse(row.context_json as string) as unknown,
      candidate_context_json: JSON.parse(row.candidate_context_json as string) as unknown,
      sequences_json: JSON.parse(row.sequences_json as string) as unknown,
    }).toEqual({
      user_id: 'u1',
      item_ids: ['ad2', 'ad1', 'ad-unknown'],
      // No candidate attribute of that name in this repository: the fixed column reads zeros.
      positions: [0, 0, 0],
      // The first sequence also fills the fixed history columns.
      history_item_ids: clicks.keys,
      history_ts_ms: clicks.ts_ms.map(String),
      device: '',
      // Every request-scope attribute as used: os_version was not sent and reads its default.
      context_json: { app_bundle: 'com.example.game', os_version: '', network: '4g', floor_price: 1.5 },
      candidate_context_json: [{ slot: 3 }, { slot: 0 }, { slot: 1 }],
      sequences_json: {
        click_history: clicks,
        conversion_history: list(['install', 'purchase']),
      },
      degraded: 0,
    });
  });
});
