import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Projection, type ProjectionArtifact } from './projection';

const VERSION_RE = /^[A-Za-z0-9._-]+$/;

/**
 * Projection artifacts under <dir>/<version>.json, and `current` naming the one in
 * use. Readers re-check `current` at most every `reloadMs`, so a refit reaches running workers
 * without a restart.
 */
export class ProjectionStore {
  private cached: { version: string; projection: Projection } | null = null;
  private checkedAt = -Infinity;
  private pointerMtime = -1;

  constructor(
    readonly dir: string,
    private readonly reloadMs = 10_000,
  ) {}

  save(artifact: ProjectionArtifact, makeCurrent = true): void {
    if (!VERSION_RE.test(artifact.version)) throw new Error(`bad projection version: ${artifact.version}`);
    mkdirSync(this.dir, { recursive: true });
    atomicWrite(join(this.dir, `${artifact.version}.json`), JSON.stringify(artifact) + '\n');
    if (makeCurrent) atomicWrite(join(this.dir, 'current'), artifact.version + '\n');
    this.checkedAt = -Infinity;
  }

  load(version: string): Projection {
    if (!VERSION_RE.test(version)) throw new Error(`bad projection version: ${version}`);
    const file = join(this.dir, `${version}.json`);
    return new Projection(JSON.parse(readFileSync(file, 'utf8')) as ProjectionArtifact);
  }

  currentVersion(): string | null {
    const file = join(this.dir, 'current');
    if (!existsSync(file)) return null;
    return readFileSync(file, 'utf8').trim() || null;
  }

  /** The current projection, or null when none was fitted yet. Cheap: cached between reloads. */
  current(now = Date.now()): Projection | null {
    if (now - this.checkedAt < this.reloadMs) return this.cached?.projection ?? null;
    this.checkedAt = now;
    const pointer = join(this.dir, 'current');
    if (!existsSync(pointer)) {
      this.cached = null;
      return null;
    }
    const mtime = statSync(pointer).mtimeMs;
    if (mtime === this.pointerMtime && this.cached) return this.cached.projection;
    this.pointerMtime = mtime;
    const version = this.currentVersion();
    if (!version) return (this.cached = null);
    if (this.cached?.version !== version) this.cached = { version, projection: this.load(version) };
    return this.cached.projection;
  }
}

function atomicWrite(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}
