/** One dependency's state, as ClickHouseService.health() and redisHealth() report it. */
export interface DependencyCheck {
  ok: boolean;
}

/** A named dependency check, called on each readiness request. */
export type HealthCheck = () => DependencyCheck | Promise<DependencyCheck>;

/** What `/health/ready` answers: 200 when `ready`, else 503, with `body` either way. */
export interface Readiness {
  ready: boolean;
  body: Record<string, unknown>;
}

export type ReadinessProbe = () => Readiness | Promise<Readiness>;

/**
 * The usual probe: ready when every check is ok; the body reports each. The checks run concurrently,
 * and one that throws counts as failed with its message.
 */
export function readyWhenAll(checks: Record<string, HealthCheck>): () => Promise<Readiness> {
  return async () => {
    const entries = Object.entries(checks);
    const results = await Promise.all(
      entries.map(async ([, check]): Promise<DependencyCheck> => {
        try {
          return await check();
        } catch (err) {
          return { ok: false, error: (err as Error).message } as DependencyCheck;
        }
      }),
    );
    const ok = results.every((r) => r.ok);
    return {
      ready: ok,
      body: {
        status: ok ? 'ok' : 'unavailable',
        checks: Object.fromEntries(entries.map(([name], i) => [name, results[i]!])),
      },
    };
  };
}
