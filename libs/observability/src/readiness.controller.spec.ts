import type { FastifyReply } from 'fastify';
import { ReadinessController, type DependencyCheck } from './readiness.controller';

class Probe extends ReadinessController {
  constructor(private readonly state: Record<string, DependencyCheck | Promise<DependencyCheck>>) {
    super();
  }

  protected checks() {
    return this.state;
  }
}

const reply = () => {
  const r = { code: 0, status: (c: number) => ((r.code = c), r) };
  return r;
};

describe('ReadinessController', () => {
  it('is ready (200) when every check, sync or async, is ok, and reports each', async () => {
    const r = reply();
    const body = await new Probe({ db: Promise.resolve({ ok: true }), queue: { ok: true } }).ready(
      r as unknown as FastifyReply,
    );
    expect(r.code).toBe(200);
    expect(body).toEqual({ status: 'ok', checks: { db: { ok: true }, queue: { ok: true } } });
  });

  it('answers 503 with the failing check when one dependency is down; liveness stays ok', async () => {
    const r = reply();
    const down = { ok: false, error: 'connect ECONNREFUSED' } as DependencyCheck;
    const probe = new Probe({ db: Promise.resolve(down), queue: { ok: true } });
    const body = await probe.ready(r as unknown as FastifyReply);
    expect(r.code).toBe(503);
    expect(body.status).toBe('unavailable');
    expect(body.checks.db).toEqual(down);
    expect(probe.live()).toEqual({ status: 'ok' });
  });
});
