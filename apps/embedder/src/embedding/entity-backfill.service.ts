import {
  embeddingStore,
  entityEmbeddingWork,
  type EntityEmbeddingSpec,
  type FeatureRepo,
} from '@mmctr/feature-repo';
import type { EntityEmbeddingJob } from '@mmctr/online-store';
import { EmbedFailure, reasonOf } from '../errors';
import type { EntityEmbeddingRepository } from '../storage/entity-embedding.repository';
import type {
  EntitySnapshot,
  EntitySnapshotRepository,
  EntityTable,
} from '../storage/entity-snapshot.repository';
import type { BackfillProgress } from './backfill.service';
import type { EntityEmbeddingService, EntityEmbeddings } from './entity-embedding.service';

export interface EntityBackfillResult {
  embedding: string;
  entity: string;
  table: string;
  /** Keys of the entity's table (each embedded from its newest snapshot). */
  total: number;
  /** Keys whose newest content already has a vector by this text encoder. */
  skipped: number;
  stored: number;
  /** Keys whose `emb:` entry is already for a newer version (ingest moved on meanwhile). */
  stale: number;
  failures: { key: string; reason: string; message: string }[];
}

/** The job ingest enqueues for this snapshot (ingest's entityEmbeddingJobs): same inputs, same hash. */
export function entityJob(spec: EntityEmbeddingSpec, snapshot: EntitySnapshot): EntityEmbeddingJob {
  return entityEmbeddingWork(spec, snapshot);
}

/**
 * `mmctr embed --entity <embedding>`: embeds, in process, the newest snapshot of every key of the
 * embedding's entity whose content has no vector yet (entities stored before the embedding was declared,
 * or whose jobs were lost), through EntityEmbeddingService: the worker's writes, no queue.
 */
export class EntityBackfillService {
  constructor(
    private readonly repo: FeatureRepo,
    private readonly declared: EntityEmbeddings,
    private readonly snapshots: Pick<EntitySnapshotRepository, 'exists' | 'countKeys' | 'newest'>,
    private readonly stored: Pick<EntityEmbeddingRepository, 'storedHashes' | 'flush'>,
    private readonly service: Pick<EntityEmbeddingService, 'embed'>,
    private readonly textEncoderId: string,
    private readonly opts: { pageSize: number } = { pageSize: 1_000 },
  ) {}

  /** The spec and table of a declared entity embedding; otherwise an error naming the declared ones. */
  target(name: string): { spec: EntityEmbeddingSpec; table: EntityTable } {
    const spec = this.declared.specs.get(name);
    if (!spec) throw new Error(this.unknown(name));
    // embeddingJobs only derives specs of snapshot entities with a table.
    const entity = this.repo.entities.find((e) => e.name === spec.entity)!;
    return {
      spec,
      table: { table: entity.table!, key: spec.key, columns: spec.inputs.map((i) => i.attribute) },
    };
  }

  async embed(
    name: string,
    opts: { force?: boolean; concurrency: number; onProgress?: (p: BackfillProgress) => void },
  ): Promise<EntityBackfillResult> {
    const { spec, table } = this.target(name);
    if (!(await this.snapshots.exists(table.table)))
      throw new Error(
        `${name}: table '${table.table}' of entity '${spec.entity}' is not in the database (apply the feature repository first: mmctr features apply)`,
      );
    const total = await this.snapshots.countKeys(table);
    const result: EntityBackfillResult = {
      embedding: name,
      entity: spec.entity,
      table: table.table,
      total,
      skipped: 0,
      stored: 0,
      stale: 0,
      failures: [],
    };
    const report = () => {
      const done = result.skipped + result.stored + result.stale + result.failures.length;
      // Keys written after the count still get embedded: the bar's total follows them.
      opts.onProgress?.({ total: Math.max(total, done), done, failed: result.failures.length });
    };
    report();
    let after = '';
    for (;;) {
      const page = await this.snapshots.newest(table, after, this.opts.pageSize);
      if (page.rows.length === 0) break;
      const jobs = page.rows.map((s) => entityJob(spec, s));
      after = jobs[jobs.length - 1]!.key;
      const todo = opts.force ? jobs : await this.unembedded(spec, jobs);
      result.skipped += jobs.length - todo.length;
      report();
      await this.run(todo, opts.concurrency, result, report);
      if (!page.full) break;
    }
    await this.stored.flush();
    // Every key was visited: the exact total, where the count before was an estimate.
    result.total = result.skipped + result.stored + result.stale + result.failures.length;
    return result;
  }

  /** The jobs whose (key, content hash) has no stored vector by this encoder. */
  private async unembedded(spec: EntityEmbeddingSpec, jobs: EntityEmbeddingJob[]) {
    const have = await this.stored.storedHashes(
      { embedding: spec.name, entity: spec.entity, encoder: this.textEncoderId },
      jobs[0]!.key,
      jobs[jobs.length - 1]!.key,
    );
    return jobs.filter((j) => !have.has(`${j.key}\t${j.content_hash}`));
  }

  private async run(
    jobs: EntityEmbeddingJob[],
    concurrency: number,
    result: EntityBackfillResult,
    report: () => void,
  ): Promise<void> {
    let next = 0;
    const lane = async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        try {
          if ((await this.service.embed(job)) === 'stored') result.stored++;
          else result.stale++;
        } catch (err) {
          result.failures.push({
            key: job.key,
            reason: reasonOf(err),
            message: err instanceof EmbedFailure ? err.message : (err as Error).message,
          });
        }
        report();
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.floor(concurrency) || 1) }, lane));
  }

  private unknown(name: string): string {
    const declared = [...this.declared.specs.values()].map((s) => `${s.name} (${s.entity})`);
    const list = declared.length > 0 ? declared.join(', ') : 'none';
    const where = `${this.repo.name} ${this.repo.version}`;
    const unsupported = this.declared.unsupported.find((u) => u.name === name);
    if (unsupported)
      return `entity embedding '${name}' of '${unsupported.entity}' is not embedded: ${unsupported.reason} (embedded: ${list})`;
    const other = (this.repo.embeddings ?? []).find((e) => e.name === name);
    if (other && embeddingStore(other) === 'catalogue')
      return `'${name}' is the catalogue's embedding: use embed --all (entity embeddings of ${where}: ${list})`;
    if (other)
      return `'${name}' is an embedding of the catalogue entity '${other.entity}' that nothing stores (entity embeddings of ${where}: ${list})`;
    return `no entity embedding '${name}' in ${where}; declared: ${list}`;
  }
}
