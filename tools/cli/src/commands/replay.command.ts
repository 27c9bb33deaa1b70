import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import { loadConfig } from '@mmctr/config';
import { EventProducer, createKafka } from '@mmctr/kafka';
import { percentile } from '@mmctr/observability';
import { createRedis, onlineStoreFromConfig, type OnlineStore } from '@mmctr/online-store';
import { auc, logLoss } from '@mmctr/synth';

interface ReplayOptions {
  synth: string;
  phase: 'history' | 'test';
  scorer: string;
  apiKey?: string;
  maxRequests?: string;
  out?: string;
  scoresOut?: string;
}

interface SynthMeta {
  split: { test_start_ms: number };
  counts: { impressions: number };
}

async function* readJsonl<T>(file: string): AsyncGenerator<T> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) if (line) yield JSON.parse(line) as T;
}

/** history: the catalogue and every event before the test period, produced as fast as Kafka takes them. */
async function produceHistory(dir: string, meta: SynthMeta, producer: EventProducer): Promise<object> {
  const started = Date.now();
  const items: CatalogueItem[] = [];
  for await (const item of readJsonl<CatalogueItem>(join(dir, 'items.jsonl'))) items.push(item);
  await producer.sendItems(items);
  const bar = new SingleBar(
    { format: 'history  {bar} {percentage}% | {value}/{total} events' },
    Presets.shades_classic,
  );
  bar.start(meta.counts.impressions, 0);
  let batch: BehaviourEvent[] = [];
  let events = 0;
  for await (const e of readJsonl<BehaviourEvent>(join(dir, 'events.jsonl'))) {
    if (e.ts_ms >= meta.split.test_start_ms) break;
    batch.push(e);
    if (batch.length === 20_000) {
      await producer.sendEvents(batch);
      events += batch.length;
      bar.update(events);
      batch = [];
    }
  }
  await producer.sendEvents(batch);
  events += batch.length;
  bar.update(events);
  bar.stop();
  return { phase: 'history', items: items.length, events, seconds: (Date.now() - started) / 1000 };
}

/**
 * test: replays the test period in time order. Each request is scored through the HTTP API before any
 * of its own events are produced, so the scorer never sees a click from the future in the history.
 */
async function replayTest(
  dir: string,
  meta: SynthMeta,
  producer: EventProducer,
  store: OnlineStore,
  historyTypes: readonly string[],
  opts: ReplayOptions,
) {
  const maxRequests = opts.maxRequests ? Number(opts.maxRequests) : Infinity;
  const coldItems = new Set<string>();
  for await (const item of readJsonl<CatalogueItem>(join(dir, 'items.jsonl'))) {
    if (item.ts_ms >= meta.split.test_start_ms) coldItems.add(item.item_id);
  }
  const served = new Map<string, { ctr: number; label: number; cold: boolean }>();
  const latencies: number[] = [];
  const modelVersions = new Set<string>();
  let degraded = 0;
  let pending: BehaviourEvent[] = [];
  let slate: BehaviourEvent[] = [];
  let requests = 0;
  let produced = 0;
  // Newest behaviour event sent per user: a request waits until ingest has put it into the history,
  // as a live user's next request would find it (sessions are seconds apart, ingest lag is ~1 s).
  const lastSent = new Map<string, number>();
  let historyWaits = 0;
  let historyTimeouts = 0;
  const awaitHistory = async (userId: string) => {
    const want = lastSent.get(userId);
    if (want === undefined) return;
    const deadline = Date.now() + 10_000;
    let waited = false;
    for (;;) {
      const [newest] = await store.getHistory(userId, 1);
      if (newest && newest.ts_ms >= want) break;
      if (Date.now() > deadline) {
        historyTimeouts++;
        break;
      }
      waited = true;
      await new Promise((r) => setTimeout(r, 20));
    }
    if (waited) historyWaits++;
    lastSent.delete(userId);
  };
  let lastTs = meta.split.test_start_ms;
  const started = Date.now();
  const bar = new SingleBar(
    { format: 'replay   {bar} {value} requests | p50 {p50} ms' },
    Presets.shades_classic,
  );
  bar.start(maxRequests === Infinity ? 0 : maxRequests, 0, { p50: '-' });

  const score = async (imps: BehaviourEvent[]) => {
    const first = imps[0] as BehaviourEvent;
    // Everything that happened before this request is sent first, so ingest can apply it.
    await producer.sendEvents(pending);
    produced += pending.length;
    for (const e of pending) {
      if (historyTypes.includes(e.type))
        lastSent.set(e.user_id, Math.max(lastSent.get(e.user_id) ?? 0, e.ts_ms));
    }
    pending = [];
    await awaitHistory(first.user_id);
    const body = {
      request_id: first.request_id,
      user_id: first.user_id,
      ts_ms: first.ts_ms,
      context: first.context ?? {},
      candidates: imps.map((e) => ({ item_id: e.item_id, position: e.position ?? 0 })),
    };
    const t0 = performance.now();
    const res = await fetch(`${opts.scorer}/v1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(opts.apiKey ? { 'x-api-key': opts.apiKey } : {}) },
      body: JSON.stringify(body),
    });
    const answer = (await res.json()) as {
      model_version: string;
      degraded: boolean;
      scores: { item_id: string; ctr: number }[];
    };
    latencies.push(performance.now() - t0);
    if (!res.ok) throw new Error(`scorer answered ${res.status}: ${JSON.stringify(answer)}`);
    modelVersions.add(answer.model_version);
    if (answer.degraded) degraded++;
    answer.scores.forEach((s) => {
      served.set(`${first.request_id}\u0000${s.item_id}`, {
        ctr: s.ctr,
        label: 0,
        cold: coldItems.has(s.item_id),
      });
    });
    pending.push(...imps);
    requests++;
    if (requests % 50 === 0) {
      const sorted = [...latencies].sort((a, b) => a - b);
      bar.update(requests, { p50: percentile(sorted, 50).toFixed(1) });
    }
  };

  // After the last scored request, outcomes keep arriving for one attribution window.
  const outcomeWindowMs = 30 * 60_000;
  let full = false;
  for await (const e of readJsonl<BehaviourEvent>(join(dir, 'events.jsonl'))) {
    if (e.ts_ms < meta.split.test_start_ms) continue;
    if (full && e.ts_ms > lastTs + outcomeWindowMs) break;
    if (e.type === 'impression') {
      if (full) continue;
      if (slate.length && slate[0]?.request_id !== e.request_id) {
        await score(slate);
        slate = [];
        if (requests >= maxRequests) {
          full = true;
          continue;
        }
      }
      slate.push(e);
      lastTs = e.ts_ms;
      continue;
    }
    if (full && !served.has(`${e.request_id}\u0000${e.item_id}`)) continue;
    const hit = served.get(`${e.request_id}\u0000${e.item_id}`);
    if (e.type === 'click' && hit) hit.label = 1;
    if (!hit && slate.some((s) => s.request_id === e.request_id)) {
      // A click of the slate being collected: score the slate first.
      await score(slate);
      slate = [];
      const late = served.get(`${e.request_id}\u0000${e.item_id}`);
      if (e.type === 'click' && late) late.label = 1;
    }
    pending.push(e);
  }
  if (slate.length && !full) await score(slate);
  await producer.sendEvents(pending);
  produced += pending.length;
  bar.stop();

  if (opts.scoresOut) {
    const lines = [...served].map(([key, r]) => {
      const [request_id, item_id] = key.split('\u0000');
      return JSON.stringify({ request_id, item_id, ctr: r.ctr, label: r.label, cold: r.cold });
    });
    writeFileSync(opts.scoresOut, lines.join('\n') + '\n');
  }
  const rows = [...served.values()];
  const p = Float64Array.from(rows.map((r) => r.ctr));
  const y = Uint8Array.from(rows.map((r) => r.label));
  const sorted = latencies.sort((a, b) => a - b);
  return {
    phase: 'test',
    requests,
    impressions: rows.length,
    produced_events: produced,
    clicks: rows.reduce((s, r) => s + r.label, 0),
    window: { from_ms: meta.split.test_start_ms, to_ms: lastTs + 1 },
    model_versions: [...modelVersions],
    degraded_requests: degraded,
    history_waits: historyWaits,
    history_wait_timeouts: historyTimeouts,
    served_auc: auc(p, y, () => true),
    served_logloss: logLoss(p, y, () => true),
    served_cold_start_auc: auc(p, y, (i) => rows[i]?.cold === true),
    latency_ms: { p50: percentile(sorted, 50), p99: percentile(sorted, 99) },
    seconds: (Date.now() - started) / 1000,
  };
}

export function register(program: Command): void {
  program
    .command('replay')
    .description(
      'replay a synthetic stream: --phase history produces the past, --phase test scores then produces',
    )
    .requiredOption('--synth <dir>', 'output folder of mmctr synth')
    .option('--phase <phase>', 'history | test', 'test')
    .option('--scorer <url>', 'scoring API base URL', 'http://127.0.0.1:3103')
    .option('--api-key <key>', 'scoring API key')
    .option('--max-requests <n>', 'stop the test replay after this many requests')
    .option('--out <file>', 'write the summary JSON here')
    .option('--scores-out <file>', 'test phase: write every served score with its outcome (JSONL)')
    .action(async (opts: ReplayOptions) => {
      const config = loadConfig();
      const meta = JSON.parse(readFileSync(join(opts.synth, 'meta.json'), 'utf8')) as SynthMeta;
      const producer = new EventProducer(createKafka(config), {
        eventsTopic: config.KAFKA_TOPIC_EVENTS,
        itemsTopic: config.KAFKA_TOPIC_ITEMS,
      });
      const redis = createRedis(config);
      try {
        const summary =
          opts.phase === 'history'
            ? await produceHistory(opts.synth, meta, producer)
            : await replayTest(
                opts.synth,
                meta,
                producer,
                onlineStoreFromConfig(redis, config),
                config.ONLINE_HISTORY_TYPES,
                opts,
              );
        const text = JSON.stringify(summary, null, 2);
        if (opts.out) writeFileSync(opts.out, text + '\n');
        console.log(text);
      } finally {
        redis.disconnect();
        await producer.close();
      }
    });
}
