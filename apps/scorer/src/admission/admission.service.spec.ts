import { metricValue } from '@mmctr/observability';
import { loadScorerConfig } from '../config/scorer-config';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { AdmissionService, type Admission, type Ticket } from './admission.service';

class FakeClock {
  t = 1_000;
  now = () => this.t;
  wallNow = () => 1_800_000_000_000 + this.t;
}

function setup(env: Record<string, string> = {}) {
  const clock = new FakeClock();
  const metrics = new ScorerMetrics();
  const admission = new AdmissionService(loadScorerConfig(env), metrics, clock);
  const counter = async (series: string) => metricValue(await metrics.registry.metrics(), series);
  return { clock, metrics, admission, counter };
}

const ticket = (a: Admission): Ticket => {
  if (!a.admitted) throw new Error(`shed: ${a.reason}`);
  return a.ticket;
};

describe('AdmissionService', () => {
  let s: ReturnType<typeof setup>;
  afterEach(() => s.metrics.onModuleDestroy());

  it('sheds a request whose deadline has already passed, at once and without queueing it', async () => {
    s = setup();
    expect(s.admission.admit(s.clock.t, 0, 'm1')).toEqual({
      admitted: false,
      reason: 'expired',
      retryAfterS: 1,
    });
    s.clock.t += 10;
    expect(s.admission.admit(s.clock.t - 50, 40, 'm1')).toMatchObject({ admitted: false, reason: 'expired' });
    expect(s.admission.depth).toBe(0);
    expect(await s.counter('mmctr_scorer_shed_requests_total{reason="expired"}')).toBe(2);
  });

  it('learns the service time from answers: its own duration when alone, the gap between answers when it waited', () => {
    s = setup();
    const a = ticket(s.admission.admit(s.clock.t, null, 'm1'));
    s.clock.t += 10;
    s.admission.finish(a, true);
    expect(s.admission.estimateMs('m1')).toBe(10);

    // Two arrive together; the second is answered 20 ms after the first: a service time of 20.
    const b = ticket(s.admission.admit(s.clock.t, null, 'm1'));
    const c = ticket(s.admission.admit(s.clock.t, null, 'm1'));
    s.clock.t += 20;
    s.admission.finish(b, true);
    expect(s.admission.estimateMs('m1')).toBeCloseTo(10 + 0.2 * (20 - 10), 9);
    s.clock.t += 20;
    s.admission.finish(c, true);
    expect(s.admission.estimateMs('m1')).toBeCloseTo(12 + 0.2 * (20 - 12), 9);
    expect(s.admission.estimateMs('m2')).toBeUndefined();
  });

  it('sheds a request predicted to finish after its deadline given the work admitted before it', async () => {
    s = setup({ SCORER_DEFAULT_DEADLINE_MS: '100' });
    const first = ticket(s.admission.admit(s.clock.t, null, 'm1'));
    s.clock.t += 30;
    s.admission.finish(first, true); // estimate 30 ms
    // Nothing in flight: admitted; then one and two ahead: 60 and 90 ms predicted, within 100.
    const held = [1, 2, 3].map(() => ticket(s.admission.admit(s.clock.t, null, 'm1')));
    expect(s.admission.depth).toBe(3);
    // Three ahead: 4 x 30 = 120 ms > 100.
    expect(s.admission.admit(s.clock.t, null, 'm1')).toEqual({
      admitted: false,
      reason: 'predicted_late',
      retryAfterS: 1,
    });
    // A larger budget of its own does not help: the requests in flight share the loop with it, so
    // it would take all three to 120 ms, past their 100.
    expect(s.admission.admit(s.clock.t, 150, 'm1')).toMatchObject({
      admitted: false,
      reason: 'predicted_late',
    });
    expect(await s.counter('mmctr_scorer_shed_requests_total{reason="predicted_late"}')).toBe(2);
    for (const t of held) s.admission.finish(t, false);
  });

  it('admits a request only while every request in flight can still meet its deadline', () => {
    s = setup({ SCORER_DEFAULT_DEADLINE_MS: '0' });
    const first = ticket(s.admission.admit(s.clock.t, null, 'm1'));
    s.clock.t += 10;
    s.admission.finish(first, true); // estimate 10 ms
    const tight = ticket(s.admission.admit(s.clock.t, 25, 'm1'));
    // One in flight: both done in ~20 ms, within the tight 25.
    const loose = ticket(s.admission.admit(s.clock.t, 1_000, 'm1'));
    // A third would take the tight one to ~30 ms; its own budget (1 s) and no deadline alike are refused.
    expect(s.admission.admit(s.clock.t, 1_000, 'm1')).toMatchObject({
      admitted: false,
      reason: 'predicted_late',
    });
    expect(s.admission.admit(s.clock.t, null, 'm1')).toMatchObject({
      admitted: false,
      reason: 'predicted_late',
    });
    // Once the tight deadline has passed it protects nothing (it will be late anyway): 40 ms fits 1 s.
    s.clock.t += 26;
    const third = ticket(s.admission.admit(s.clock.t, 1_000, 'm1'));
    expect(s.admission.depth).toBe(3);
    for (const t of [tight, loose, third]) s.admission.finish(t, false);
    // Its slot freed, the next is judged on what is left in flight.
    expect(s.admission.admit(s.clock.t, null, 'm1').admitted).toBe(true);
  });

  it('admits a request with nothing in flight even when the estimate exceeds its deadline', () => {
    s = setup({ SCORER_DEFAULT_DEADLINE_MS: '50' });
    const slow = ticket(s.admission.admit(s.clock.t, null, 'm1'));
    s.clock.t += 200;
    s.admission.finish(slow, true);
    expect(s.admission.estimateMs('m1')).toBe(200);
    expect(s.admission.admit(s.clock.t, null, 'm1').admitted).toBe(true);
    expect(s.admission.admit(s.clock.t, null, 'm1')).toMatchObject({
      admitted: false,
      reason: 'predicted_late',
    });
  });

  it('sheds when SCORER_MAX_QUEUE requests are in flight, with a Retry-After covering the backlog', async () => {
    s = setup({ SCORER_MAX_QUEUE: '3', SCORER_DEFAULT_DEADLINE_MS: '0' });
    const first = ticket(s.admission.admit(s.clock.t, null, 'm1'));
    s.clock.t += 700;
    s.admission.finish(first, true);
    const held = [1, 2, 3].map(() => ticket(s.admission.admit(s.clock.t, null, 'm1')));
    expect(s.admission.admit(s.clock.t, null, 'm1')).toEqual({
      admitted: false,
      reason: 'queue_full',
      retryAfterS: 3, // 3 x 700 ms
    });
    s.admission.finish(held[0]!, false);
    expect(s.admission.admit(s.clock.t, null, 'm1').admitted).toBe(true);
    expect(await s.counter('mmctr_scorer_shed_requests_total{reason="queue_full"}')).toBe(1);
    expect(await s.counter('mmctr_scorer_admission_in_flight')).toBe(3);
  });

  it('counts a scored answer past its deadline as late, and finishes a ticket only once', async () => {
    s = setup();
    const onTime = ticket(s.admission.admit(s.clock.t, 100, 'm1'));
    const late = ticket(s.admission.admit(s.clock.t, 20, 'm1'));
    s.clock.t += 15;
    s.admission.finish(onTime, true);
    s.clock.t += 15;
    s.admission.finish(late, true);
    s.admission.finish(late, true);
    expect(s.admission.depth).toBe(0);
    expect(await s.counter('mmctr_scorer_late_responses_total')).toBe(1);
  });

  it('an unscored answer (4xx, closed connection) frees its slot but teaches nothing', () => {
    s = setup();
    const t = ticket(s.admission.admit(s.clock.t, 10, 'm1'));
    s.clock.t += 500;
    s.admission.finish(t, false);
    expect(s.admission.depth).toBe(0);
    expect(s.admission.estimateMs('m1')).toBeUndefined();
  });

  it('sheds before the work a request whose deadline passed while its body was read', async () => {
    s = setup({ SCORER_DEFAULT_DEADLINE_MS: '0' });
    const t = ticket(s.admission.admit(s.clock.t, 30, 'm1'));
    s.clock.t += 29;
    expect(s.admission.expiredBeforeWork(t)).toBeNull();
    s.clock.t += 1;
    expect(s.admission.expiredBeforeWork(t)).toBe('expired');
    expect(await s.counter('mmctr_scorer_shed_requests_total{reason="expired"}')).toBe(1);
    const noDeadline = ticket(s.admission.admit(s.clock.t, null, 'm1'));
    s.clock.t += 10_000;
    expect(s.admission.expiredBeforeWork(noDeadline)).toBeNull();
  });

  it("gives the scoring work the deadline the client sent, not the configured default's", () => {
    s = setup({ SCORER_DEFAULT_DEADLINE_MS: '50' });
    const sent = ticket(s.admission.admit(s.clock.t, 30, 'm1'));
    const byDefault = ticket(s.admission.admit(s.clock.t, null, 'm1'));
    expect(s.admission.deadlineOf(byDefault)).toBeUndefined();
    const deadline = s.admission.deadlineOf(sent)!;
    s.clock.t += 30;
    expect(deadline.passed()).toBe(false);
    s.clock.t += 0.5;
    expect(deadline.passed()).toBe(true);
    expect(s.admission.sentDeadlinePassed(sent)).toBe(true);
    // The default (50 ms) has passed too, but the client never said it stops waiting.
    s.clock.t += 50;
    expect(s.admission.sentDeadlinePassed(byDefault)).toBe(false);
  });

  it('counts an answer late by when it was handed to the socket, not when its response closed', async () => {
    s = setup();
    const t = ticket(s.admission.admit(s.clock.t, 20, 'm1'));
    s.clock.t += 19;
    s.admission.sending(t);
    s.clock.t += 5; // the close event's turn on the loop came after the deadline
    s.admission.finish(t, true);
    expect(await s.counter('mmctr_scorer_late_responses_total')).toBe(0);
  });

  it('counts a request given up after admission as shed (deadline_exceeded) and by where the work stopped', async () => {
    s = setup();
    s.admission.abandoned('before_inference');
    s.admission.abandoned('after_inference');
    s.admission.abandoned('after_inference');
    expect(await s.counter('mmctr_scorer_shed_requests_total{reason="deadline_exceeded"}')).toBe(3);
    expect(await s.counter('mmctr_scorer_deadline_exceeded_requests_total{at="before_inference"}')).toBe(1);
    expect(await s.counter('mmctr_scorer_deadline_exceeded_requests_total{at="after_inference"}')).toBe(2);
  });
});
