import type { ScoringCounts } from './traffic';

export interface FaultFigure {
  fault: string;
  node: string;
  /** When the node was killed (epoch ms). */
  killedAt: number;
  /** From the kill until the first probe sent after it was acknowledged by Kafka (acks=all). */
  ackS: number;
  /** From the kill until a probe sent after it is stored on every partition of the events topic. */
  recoveryS: number;
  /** From the kill until the node is back and the store redundant again (null: not restarted). */
  restoredS: number | null;
  /** Scoring answers from the kill until restored (or recovered). */
  scoring: Pick<ScoringCounts, 'requests' | 'degraded' | 'server5xx'>;
}

export interface RunFigures {
  eventsSent: number;
  stored: number;
  lost: number;
  duplicated: number;
  unexpected: number;
  malformedSent: number;
  deadLettered: number;
  dlqMessages: number;
  producerRetries: number;
  /** Messages resent because a send's answer lacked their partition (kafkajs left them unwritten). */
  producerResent: number;
  /** Seconds the producer streamed. */
  streamS: number;
  scoring: ScoringCounts;
  scoreLogged: number;
  itemsSent: number;
  itemsEmbedded: number;
  faults: FaultFigure[];
}

const row = (cells: (string | number)[], widths: number[]) =>
  cells
    .map((c, i) => String(c).padEnd(widths[i]!))
    .join('  ')
    .trimEnd();

/** The run's figures as the plain-text tables docs/operations.md records. */
export function formatFigures(f: RunFigures): string {
  const s = f.scoring;
  const lines = [
    `events: sent ${f.eventsSent} over ${f.streamS.toFixed(0)} s, stored ${f.stored}, lost ${f.lost}, duplicated ${f.duplicated}, unexpected ${f.unexpected}`,
    `malformed: sent ${f.malformedSent}, dead-lettered ${f.deadLettered} (${f.dlqMessages} DLQ messages)`,
    `producer: ${f.producerRetries} sends retried, ${f.producerResent} messages resent (missing from a send's answer)`,
    `scoring: ${s.requests} requests, ${s.ok} ok, ${s.degraded} degraded, ${s.client4xx} 4xx, ${s.server5xx} 5xx, ${s.failed} without answer; ${f.scoreLogged} in score_log`,
    `embedder: ${f.itemsEmbedded} of ${f.itemsSent} catalogue items embedded`,
    '',
  ];
  const widths = [30, 9, 7, 11, 11, 17];
  lines.push(row(['fault', 'node', 'ack s', 'recovery s', 'restored s', 'scoring (deg/5xx)'], widths));
  for (const x of f.faults) {
    const scoring = `${x.scoring.requests} (${x.scoring.degraded}/${x.scoring.server5xx})`;
    const restored = x.restoredS === null ? '-' : x.restoredS.toFixed(1);
    lines.push(row([x.fault, x.node, x.ackS.toFixed(1), x.recoveryS.toFixed(1), restored, scoring], widths));
  }
  return lines.join('\n');
}
