// What the repository pipeline e2e specs (Kafka -> ingest -> mmctr-train -> scorer -> parity) share.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import type { ClickHouseService } from '@mmctr/clickhouse';
import { waitFor } from '../../apps/scorer/test/support/scorer-harness';
import type { IsolatedNames } from './ingest/fixtures';
import { groupCaughtUp } from './kafka-group';

/** How many of `xs` have each `key`. */
export const countBy = <T>(xs: readonly T[], key: (x: T) => string): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
};

/**
 * Declares a folder made before the suite (under the OS temporary folder, named from `prefix`) and
 * removed after it; `path()` names it from the first beforeAll on.
 */
export function suiteTempDir(prefix: string): { path(): string } {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return {
    path() {
      if (!dir) throw new Error(`${prefix}: the folder is made in beforeAll`);
      return dir;
    },
  };
}

/** Waits (up to 2 minutes) until ingest's consumer group has committed everything produced to `topics`. */
export async function waitIngestCaughtUp(
  kafka: Kafka,
  names: IsolatedNames,
  topics: string[],
): Promise<void> {
  await waitFor(
    'ingest to commit everything produced',
    () => groupCaughtUp(kafka, names.env.INGEST_GROUP_ID, topics),
    120_000,
  );
}

/** Expects `version` to be the registry's production version. */
export async function expectProductionVersion(ch: ClickHouseService, version: string): Promise<void> {
  const [row] = await ch.query<{ version: string }>(
    "SELECT version FROM models_current WHERE status = 'production'",
  );
  expect(row?.version).toBe(version);
}
