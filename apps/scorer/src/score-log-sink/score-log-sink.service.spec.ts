import pino from 'pino';
import type { AppConfig } from '@mmctr/config';
import type { ScorerConfig } from '../config/scorer-config';
import type { ScoreLogConsumerRepository } from './score-log-consumer.repository';
import type { ScoreLogDeadLetterRepository } from './score-log-dead-letter.repository';
import { ScoreLogSinkService } from './score-log-sink.service';

const config = {
  INGEST_RETRY_INITIAL_MS: 1,
  INGEST_RETRY_MAX_MS: 2,
  INGEST_STORE_RETRY_DEADLINE_MS: 1_000,
  KAFKA_TOPIC_SCORES: 'scores',
} as AppConfig;
const scorer = { SCORE_LOG_SINK_ENABLED: true, SCORE_LOG_SINK_GROUP_ID: 'sink' } as ScorerConfig;

/** A consumer whose start() fails `failures` times (Kafka unreachable), then joins. */
function fakeSource(failures: number) {
  let attempts = 0;
  let started!: () => void;
  const joined = new Promise<void>((resolve) => (started = resolve));
  const source = {
    start: () => {
      attempts++;
      if (attempts <= failures) return Promise.reject(new Error('Connection error: ECONNREFUSED'));
      started();
      return Promise.resolve();
    },
    stop: () => Promise.resolve(),
    consumption: () => ({ ok: true, sinceProgressMs: 0, lag: 0 }),
  };
  return { source: source as unknown as ScoreLogConsumerRepository, joined, attempts: () => attempts };
}

function sink(source: ScoreLogConsumerRepository): ScoreLogSinkService {
  const none = {} as never; // the repository and metrics: never reached before a batch arrives
  return new ScoreLogSinkService(
    config,
    scorer,
    source,
    none,
    { disconnect: () => Promise.resolve() } as unknown as ScoreLogDeadLetterRepository,
    none,
    pino({ level: 'silent' }),
  );
}

describe('ScoreLogSinkService start-up', () => {
  it('retries joining the group until Kafka answers, reporting kafka as failing meanwhile', async () => {
    const { source, joined, attempts } = fakeSource(3);
    const service = sink(source);
    service.onApplicationBootstrap();
    await joined;
    expect(attempts()).toBe(4);
    // Started: nothing is failing any more, however long ago the first failure was.
    await new Promise((r) => setImmediate(r));
    expect(service.health(Date.now() + 60_000)).toMatchObject({ ok: true, failing: [] });
  });

  it('is not healthy once it has failed to start for longer than the store deadline', async () => {
    const { source } = fakeSource(Number.POSITIVE_INFINITY);
    const service = sink(source);
    service.onApplicationBootstrap();
    await new Promise((r) => setTimeout(r, 20));
    expect(service.health().ok).toBe(true); // within the deadline
    const later = service.health(Date.now() + 5_000);
    expect(later.ok).toBe(false);
    expect(later.failing.map((f) => f.target)).toEqual(['kafka']);
    await service.onApplicationShutdown(); // ends the retries
  });
});
