import type { ClickHouseService } from '@mmctr/clickhouse';

/**
 * Waits until every replica of `db` is active and writable (a server restarted soon after a crash
 * stays read-only until its previous ZooKeeper session expires) and none has fetches or merges
 * queued, so any replica answers the same.
 */
export async function replicated(nodes: ClickHouseService[], db: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const queued = await Promise.all(
      nodes.map((n) =>
        n.query<{ q: string }>(
          `SELECT sum(queue_size) + sum(inserts_in_queue) + sum(is_readonly) + sum(total_replicas - active_replicas) AS q
             FROM system.replicas WHERE database = {db:String}`,
          { db },
        ),
      ),
    );
    if (queued.every((r) => Number(r[0]?.q ?? 0) === 0)) return;
    if (Date.now() > until)
      throw new Error(`replicas of ${db} are not all active and caught up after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
