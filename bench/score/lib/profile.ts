// bench/score --profile: per-stage p50 / p99 / max of the scorer's own stage times (its Server-Timing
// header, SCORER_SERVER_TIMING=true) over sequential requests, and the scorer's GC pauses in that
// window (mmctr_scorer_gc_pause_seconds, read from /metrics before and after).
import { Agent } from 'node:http';
import { percentile } from '@mmctr/observability';
import { postScore } from './post-score';

export interface StageStats {
  p50: number;
  p99: number;
  max: number;
}

export interface Profile {
  requests: number;
  /** ms per stage: the scorer's stages plus `client` (the whole request as this process saw it). */
  stages: Record<string, StageStats>;
  gc: { pauses: number; total_ms: number; by_kind: Record<string, { pauses: number; total_ms: number }> };
}

/** `name;dur=1.23, other;dur=4.5` -> { name: 1.23, other: 4.5 } (ms). */
export function parseServerTiming(header: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of header.split(',')) {
    const m = /^\s*([\w-]+)\s*;\s*dur=([\d.]+)/.exec(part);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** The gc pause histogram's _sum and _count per kind from Prometheus text. */
export function gcTotals(metrics: string): Record<string, { pauses: number; total_ms: number }> {
  const out: Record<string, { pauses: number; total_ms: number }> = {};
  const re = /^mmctr_scorer_gc_pause_seconds_(sum|count)\{kind="(\w+)"\} (\S+)$/gm;
  for (const [, what, kind, value] of metrics.matchAll(re)) {
    const k = (out[kind!] ??= { pauses: 0, total_ms: 0 });
    if (what === 'sum') k.total_ms = Number(value) * 1e3;
    else k.pauses = Number(value);
  }
  return out;
}

/** One POST on `agent`: the client's latency (ms) and the scorer's Server-Timing header. */
export async function timedPost(
  url: string,
  body: string,
  agent: Agent,
): Promise<{ ms: number; timing: string }> {
  const t = process.hrtime.bigint();
  const headers = await postScore(url, body, agent);
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, timing: String(headers['server-timing'] ?? '') };
}

/** p50 / p99 / max of unsorted samples. */
export const stats = (ms: readonly number[]): StageStats => {
  const sorted = [...ms].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
};

/** `n` sequential requests on one keep-alive connection against a scorer with Server-Timing on. */
export async function profileScorer(url: string, body: string, n: number): Promise<Profile> {
  const metrics = async () => (await fetch(`${url}/metrics`)).text();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const samples: Record<string, number[]> = {};
  const gcBefore = gcTotals(await metrics());
  try {
    for (let i = 0; i < n; i++) {
      const { ms, timing } = await timedPost(url, body, agent);
      const stages = parseServerTiming(timing);
      if (!('inference' in stages)) throw new Error(`no Server-Timing stages in '${timing}'`);
      for (const [k, v] of Object.entries({ ...stages, client: ms })) (samples[k] ??= []).push(v);
    }
  } finally {
    agent.destroy();
  }
  const gcAfter = gcTotals(await metrics());
  const byKind = Object.fromEntries(
    Object.entries(gcAfter).map(([kind, a]) => {
      const b = gcBefore[kind] ?? { pauses: 0, total_ms: 0 };
      return [kind, { pauses: a.pauses - b.pauses, total_ms: a.total_ms - b.total_ms }];
    }),
  );
  const kinds = Object.values(byKind);
  return {
    requests: n,
    stages: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)])),
    gc: {
      pauses: kinds.reduce((s, k) => s + k.pauses, 0),
      total_ms: kinds.reduce((s, k) => s + k.total_ms, 0),
      by_kind: byKind,
    },
  };
}

/** The profile as printed lines. */
export function formatProfile(p: Profile): string[] {
  const f = (x: number) => x.toFixed(2).padStart(8);
  return [
    `profile (${p.requests} sequential requests; the scorer's Server-Timing, ms):`,
    `  ${'stage'.padEnd(12)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}`,
    ...Object.entries(p.stages).map(([k, s]) => `  ${k.padEnd(12)} ${f(s.p50)} ${f(s.p99)} ${f(s.max)}`),
    `  GC pauses in the scorer: ${p.gc.pauses} totalling ${p.gc.total_ms.toFixed(2)} ms (${Object.entries(
      p.gc.by_kind,
    )
      .map(([k, v]) => `${k} ${v.pauses} / ${v.total_ms.toFixed(2)} ms`)
      .join(', ')})`,
  ];
}
