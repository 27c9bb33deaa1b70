import { mulberry32 } from '@mmctr/synth';
import { scoreLogRow } from '../support/analytics/score-log-row';

type Row = Record<string, unknown>;

/** Rows per table, every column present (the cluster's servers do not fill column DEFAULTs). */
export type StoreRows = Record<'events' | 'score_log' | 'items' | 'ingest_batches', Row[]>;

const dateTime = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const BASE_MS = Date.UTC(2026, 0, 5, 22, 0, 0); // spans midnight: two days, several hours
const CATEGORIES = ['news', 'sport', 'tech'];

function item(id: number, version: number): Row {
  const ts = BASE_MS - 86_400_000 + version * 3_600_000;
  return {
    item_id: `it${id}`,
    ts_ms: ts,
    updated_at: dateTime(ts),
    title: `item ${id} v${version}`,
    description: '',
    category: CATEGORIES[(id + version) % CATEGORIES.length],
    tags: [`t${id % 4}`],
    image: '',
    content_hash: `h${id}-${version}`,
    schema_version: 1,
    ingested_at: dateTime(ts),
  };
}

function event(
  id: string,
  type: string,
  ts: number,
  req: { user: string; request: string; device: string },
  itemId: string,
  position: number,
  value = 0,
): Row {
  return {
    event_id: id,
    type,
    ts_ms: ts,
    event_time: dateTime(ts),
    user_id: req.user,
    item_id: itemId,
    request_id: req.request,
    position,
    device: req.device,
    placement: 'feed',
    country: 'DE',
    value,
    schema_version: 1,
    ingested_at: dateTime(ts + 1_000),
  };
}

/**
 * Scored requests over 40 users and 30 items across four hours around midnight: each request scores
 * three items and impresses them, some are clicked (some twice) and converted; some impressions were
 * never scored. Items have two versions, and two ingest batches per hour are logged.
 */
export function generateStore(seed: number, requests = 600): StoreRows {
  const rnd = mulberry32(seed);
  const out: StoreRows = { events: [], score_log: [], items: [], ingest_batches: [] };
  for (let i = 0; i < 30; i++) out.items.push(item(i, 0), item(i, 1 + (i % 2)));
  for (let r = 0; r < requests; r++) {
    const ts = BASE_MS + Math.floor(rnd() * 4 * 3_600_000);
    const req = {
      user: `u${Math.floor(rnd() * 40)}`,
      request: `rq${r}`,
      device: rnd() < 0.5 ? 'ios' : 'web',
    };
    const items = [0, 1, 2].map(() => `it${Math.floor(rnd() * 30)}`).filter((v, i, a) => a.indexOf(v) === i);
    const ctrs = items.map(() => Math.round(rnd() * 600) / 1000);
    if (rnd() < 0.9) {
      out.score_log.push(
        scoreLogRow({
          request_id: req.request,
          ts_ms: ts,
          event_time: dateTime(ts),
          user_id: req.user,
          model_version: rnd() < 0.5 ? 'm1' : 'm2',
          device: req.device,
          item_ids: items,
          ctrs,
          degraded: rnd() < 0.05 ? 1 : 0,
          ingested_at: dateTime(ts),
        }),
      );
    }
    items.forEach((itemId, pos) => {
      const shown = ts + 10;
      out.events.push(event(`e${r}-${pos}-i`, 'impression', shown, req, itemId, pos));
      if (rnd() < ctrs[pos]!) {
        out.events.push(event(`e${r}-${pos}-c`, 'click', shown + 5_000, req, itemId, pos));
        if (rnd() < 0.2) out.events.push(event(`e${r}-${pos}-c2`, 'click', shown + 9_000, req, itemId, pos));
        if (rnd() < 0.3)
          out.events.push(event(`e${r}-${pos}-v`, 'conversion', shown + 60_000, req, itemId, pos, 2.5));
      }
    });
  }
  for (let h = 0; h < 4; h++) {
    for (const partition of [0, 1]) {
      const ts = BASE_MS + h * 3_600_000 + partition * 60_000;
      out.ingest_batches.push({
        ts_ms: ts,
        event_time: dateTime(ts),
        consumer: 'ingest-1',
        topic: 'mmctr.events',
        partition,
        first_offset: h * 100,
        last_offset: h * 100 + 99,
        rows: 100,
        invalid: h % 2,
        insert_ms: 10 + h,
        max_event_lag_ms: 1_000 * (h + 1),
      });
    }
  }
  return out;
}
