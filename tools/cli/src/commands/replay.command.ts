import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import { loadConfig } from '@mmctr/config';
import { featureRepoFromConfig } from '@mmctr/feature-repo';
import { metricByLabel, percentile } from '@mmctr/observability';
import { auc, logLoss } from '@mmctr/synth';
import { ReplayRepository } from '../replay.repository';
import { IngestSettler, finestBucketMs } from './ingest-settler';

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
async function produceHistory(dir: string, meta: SynthMeta, stores: ReplayRepository): Promise<object> {
  const started = Date.now();
  const items: CatalogueItem[] = [];
  for await (const item of readJsonl<CatalogueItem>(join(dir, 'items.jsonl'))) items.push(item);
  await stores.sendItems(items);
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
      await stores.sendEvents(batch);
      events += batch.length;
      bar.update(events);
      batch = [];
    }
  }
  await stores.sendEvents(batch);
  events += batch.length;
  bar.update(events);
  bar.stop();
  return { phase: 'history', items: items.length, events, seconds: (Date.now() - started) / 1000 };
}

interface ServedScore {
  ctr: number;
  label: number;
  cold: boolean;
}

interface ScoreAnswer {
  model_version: string;
  degraded: boolean;
  scores: { item_id: string; ctr: number }[];
}

// After the last scored request, outcomes keep arriving for one attribution window.
const OUTCOME_WINDOW_MS = 30 * 60_000;
const HISTORY_WAIT_TIMEOUT_MS = 10_000;
const HISTORY_POLL_MS = 20;

const servedKey = (requestId: string, itemId: string) => `${requestId}\u0000${itemId}`;

/** Items first seen in the test period: the cold-start items. */
async function coldStartItems(dir: string, meta: SynthMeta): Promise<Set<string>> {
  const cold = new Set<string>();
  for await (const item of readJsonl<CatalogueItem>(join(dir, 'items.jsonl'))) {
    if (item.ts_ms >= meta.split.test_start_ms) cold.add(item.item_id);
  }
  return cold;
}

/** The request body of one slate: the request's user, time and context, its impressions as candidates. */
function scoreRequestBody(imps: BehaviourEvent[]) {
  const first = imps[0] as BehaviourEvent;
  return {
    request_id: first.request_id,
    user_id: first.user_id,
    ts_ms: first.ts_ms,
    context: first.context ?? {},
    candidates: imps.map((e) => ({ item_id: e.item_id, position: e.position ?? 0 })),
  };
}

/**
 * test: replays the test period in time order. Each request is scored through the HTTP API before any
 * of its own events are produced, so the scorer never sees a click from the future in the history.
 */
class TestReplay {
  private readonly served = new Map<string, ServedScore>();
  private readonly latencies: number[] = [];
  private readonly modelVersions = new Set<string>();
  private degraded = 0;
  /** Events read but not produced yet: they go out just before the next request is scored. */
  private pending: BehaviourEvent[] = [];
  /** Impressions of the request being collected. */
  private slate: BehaviourEvent[] = [];
  private requests = 0;
  private produced = 0;
  // Newest behaviour event sent per user: a request waits until ingest has put it into the history,
  // as a live user's next request would find it (sessions are seconds apart, ingest lag is ~1 s).
  private readonly lastSent = new Map<string, number>();
  private historyWaits = 0;
  private historyTimeouts = 0;
  private readonly settler: IngestSettler;
  private lastTs: number;
  /** --max-requests reached: only outcomes of scored requests are still produced. */
  private full = false;
  private started = 0;
  private readonly bar = new SingleBar(
    { format: 'replay   {bar} {value} requests | p50 {p50} ms' },
    Presets.shades_classic,
  );

  constructor(
    private readonly meta: SynthMeta,
    private readonly stores: ReplayRepository,
    private readonly historyTypes: readonly string[],
    private readonly coldItems: Set<string>,
    private readonly opts: ReplayOptions,
    private readonly maxRequests: number,
    /** The repository's finest aggregate bucket width (0: it declares no aggregations). */
    settleEveryMs: number,
  ) {
    this.lastTs = meta.split.test_start_ms;
    this.settler = new IngestSettler(settleEveryMs, () => stores.ingestLag());
  }

  async run(eventsFile: string): Promise<void> {
    this.started = Date.now();
    this.bar.start(this.maxRequests === Infinity ? 0 : this.maxRequests, 0, { p50: '-' });
    for await (const e of readJsonl<BehaviourEvent>(eventsFile)) {
      if (e.ts_ms < this.meta.split.test_start_ms) continue;
      if (this.full && e.ts_ms > this.lastTs + OUTCOME_WINDOW_MS) break;
      if (e.type === 'impression') await this.onImpression(e);
      else await this.onOutcome(e);
    }
    if (this.slate.length && !this.full) await this.score(this.slate);
    await this.producePending();
    this.bar.stop();
  }

  /** A new request's first impression scores the slate collected so far. */
  private async onImpression(e: BehaviourEvent): Promise<void> {
    if (this.full) return;
    if (this.slate.length && this.slate[0]?.request_id !== e.request_id) {
      await this.scoreSlate();
      if (this.requests >= this.maxRequests) {
        this.full = true;
        return;
      }
    }
    this.slate.push(e);
    this.lastTs = e.ts_ms;
  }

  /** A click or conversion: labels its served score and waits in `pending` to be produced. */
  private async onOutcome(e: BehaviourEvent): Promise<void> {
    const key = servedKey(e.request_id, e.item_id);
    if (this.full && !this.served.has(key)) return;
    const hit = this.served.get(key);
    if (e.type === 'click' && hit) hit.label = 1;
    if (!hit && this.slate.some((s) => s.request_id === e.request_id)) {
      // A click of the slate being collected: score the slate first.
      await this.scoreSlate();
      const late = this.served.get(key);
      if (e.type === 'click' && late) late.label = 1;
    }
    this.pending.push(e);
  }

  private async scoreSlate(): Promise<void> {
    await this.score(this.slate);
    this.slate = [];
  }

  private async score(imps: BehaviourEvent[]): Promise<void> {
    const first = imps[0] as BehaviourEvent;
    // Everything that happened before this request is sent first, so ingest can apply it.
    await this.producePending();
    await this.settler.before(first.ts_ms);
    await this.awaitHistory(first.user_id);
    const answer = await this.postScore(imps);
    this.modelVersions.add(answer.model_version);
    if (answer.degraded) this.degraded++;
    answer.scores.forEach((s) => {
      this.served.set(servedKey(first.request_id, s.item_id), {
        ctr: s.ctr,
        label: 0,
        cold: this.coldItems.has(s.item_id),
      });
    });
    this.pending.push(...imps);
    this.requests++;
    if (this.requests % 50 === 0) {
      const sorted = [...this.latencies].sort((a, b) => a - b);
      this.bar.update(this.requests, { p50: percentile(sorted, 50).toFixed(1) });
    }
  }

  /** Produces the pending events and notes, per user, the newest one the history will hold. */
  private async producePending(): Promise<void> {
    await this.stores.sendEvents(this.pending);
    this.produced += this.pending.length;
    for (const e of this.pending) {
      if (this.historyTypes.includes(e.type))
        this.lastSent.set(e.user_id, Math.max(this.lastSent.get(e.user_id) ?? 0, e.ts_ms));
    }
    this.pending = [];
  }

  /** Waits (up to 10 s) until the user's newest sent behaviour event is in the online history. */
  private async awaitHistory(userId: string): Promise<void> {
    const want = this.lastSent.get(userId);
    if (want === undefined) return;
    const deadline = Date.now() + HISTORY_WAIT_TIMEOUT_MS;
    let waited = false;
    for (;;) {
      const newest = await this.stores.newestHistoryTs(userId);
      if (newest !== undefined && newest >= want) break;
      if (Date.now() > deadline) {
        this.historyTimeouts++;
        break;
      }
      waited = true;
      await new Promise((r) => setTimeout(r, HISTORY_POLL_MS));
    }
    if (waited) this.historyWaits++;
    this.lastSent.delete(userId);
  }

  /** POST /v1/score, timed; anything but 2xx stops the replay. */
  private async postScore(imps: BehaviourEvent[]): Promise<ScoreAnswer> {
    const { scorer, apiKey } = this.opts;
    const t0 = performance.now();
    const res = await fetch(`${scorer}/v1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(apiKey ? { 'x-api-key': apiKey } : {}) },
      body: JSON.stringify(scoreRequestBody(imps)),
    });
    const answer = (await res.json()) as ScoreAnswer;
    this.latencies.push(performance.now() - t0);
    if (!res.ok) throw new Error(`scorer answered ${res.status}: ${JSON.stringify(answer)}`);
    return answer;
  }

  /** Every served score with its outcome, one JSON line each. */
  writeScores(file: string): void {
    const lines = [...this.served].map(([key, r]) => {
      const [request_id, item_id] = key.split('\u0000');
      return JSON.stringify({ request_id, item_id, ctr: r.ctr, label: r.label, cold: r.cold });
    });
    writeFileSync(file, lines.join('\n') + '\n');
  }

  summary() {
    const rows = [...this.served.values()];
    const p = Float64Array.from(rows.map((r) => r.ctr));
    const y = Uint8Array.from(rows.map((r) => r.label));
    const sorted = this.latencies.sort((a, b) => a - b);
    return {
      phase: 'test',
      requests: this.requests,
      impressions: rows.length,
      produced_events: this.produced,
      clicks: rows.reduce((s, r) => s + r.label, 0),
      window: { from_ms: this.meta.split.test_start_ms, to_ms: this.lastTs + 1 },
      model_versions: [...this.modelVersions],
      degraded_requests: this.degraded,
      history_waits: this.historyWaits,
      history_wait_timeouts: this.historyTimeouts,
      aggregate_settles: this.settler.summary(),
      served_auc: auc(p, y, () => true),
      served_logloss: logLoss(p, y, () => true),
      served_cold_start_auc: auc(p, y, (i) => rows[i]?.cold === true),
      latency_ms: { p50: percentile(sorted, 50), p99: percentile(sorted, 99) },
      seconds: (Date.now() - this.started) / 1000,
    };
  }
}

/**
 * The scorer's degraded answers so far, by reason (its `mmctr_scorer_degraded_responses_total`); undefined
 * when its /metrics cannot be read (the replay then reports the count alone).
 */
async function degradedByReason(scorer: string): Promise<Map<string, number> | undefined> {
  try {
    const res = await fetch(`${scorer}/metrics`);
    if (!res.ok) return undefined;
    return metricByLabel(await res.text(), 'mmctr_scorer_degraded_responses_total', 'reason');
  } catch {
    return undefined;
  }
}

async function replayTest(
  dir: string,
  meta: SynthMeta,
  stores: ReplayRepository,
  historyTypes: readonly string[],
  opts: ReplayOptions,
  settleEveryMs: number,
) {
  const maxRequests = opts.maxRequests ? Number(opts.maxRequests) : Infinity;
  const coldItems = await coldStartItems(dir, meta);
  const replay = new TestReplay(meta, stores, historyTypes, coldItems, opts, maxRequests, settleEveryMs);
  const before = await degradedByReason(opts.scorer);
  await replay.run(join(dir, 'events.jsonl'));
  const after = await degradedByReason(opts.scorer);
  if (opts.scoresOut) replay.writeScores(opts.scoresOut);
  // An answer can be degraded for more than one reason: these may add up to more than the count.
  let reasons: Record<string, number> | undefined;
  if (before && after) {
    reasons = {};
    for (const [r, n] of after) if (n > (before.get(r) ?? 0)) reasons[r] = n - (before.get(r) ?? 0);
  }
  return { ...replay.summary(), degraded_reasons: reasons };
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
      const stores = new ReplayRepository(config);
      try {
        const summary =
          opts.phase === 'history'
            ? await produceHistory(opts.synth, meta, stores)
            : await replayTest(
                opts.synth,
                meta,
                stores,
                config.ONLINE_HISTORY_TYPES,
                opts,
                finestBucketMs(featureRepoFromConfig(config)),
              );
        const text = JSON.stringify(summary, null, 2);
        if (opts.out) writeFileSync(opts.out, text + '\n');
        console.log(text);
      } finally {
        await stores.close();
      }
    });
}
