import { renderMigrations } from './render.cli';

interface Rendered {
  database: string;
  cluster: string | null;
  alter_cluster: string | null;
  migrations: { version: number; statements: string[] }[];
}

const render = (...args: string[]): Rendered =>
  JSON.parse(renderMigrations(['--database', 'mmctr', ...args])) as Rendered;

describe('render-migrations', () => {
  it('echoes the cluster and the alter cluster it rendered for, and sends replicated ALTERs to the latter', () => {
    const out = render('--cluster', 'c', '--alter-cluster', 'c_first');
    expect([out.cluster, out.alter_cluster]).toEqual(['c', 'c_first']);
    const statements = out.migrations.flatMap((m) => m.statements);
    const localAlters = statements.filter((s) => /^ALTER TABLE \S+_local\b/.test(s));
    expect(localAlters.length).toBeGreaterThan(0);
    for (const s of localAlters) expect(s).toContain('ON CLUSTER c_first');
  });

  it('echoes nulls on one server, and refuses an alter cluster without a cluster', () => {
    const out = render();
    expect([out.cluster, out.alter_cluster]).toEqual([null, null]);
    expect(() => render('--alter-cluster', 'c_first')).toThrow(/needs a cluster/);
  });
});
