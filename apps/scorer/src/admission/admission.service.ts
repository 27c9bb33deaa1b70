import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import type { AbandonedAt, WorkDeadline } from './work-deadline';

/**
 * Why a request got a 503: before any work, its deadline had passed (`expired`), the queue was full, or
 * it was predicted late; after admission, its deadline passed during the work (`deadline_exceeded`).
 */
export type ShedReason = 'expired' | 'queue_full' | 'predicted_late' | 'deadline_exceeded';

/** The clocks admission reads (performance.now and Date.now in production, fakes in tests). */
export interface AdmissionClock {
  /** Milliseconds on a monotonic clock: every interval and deadline is measured on it. */
  now(): number;
  /** Unix time in milliseconds: only to turn a client's absolute deadline into a budget. */
  wallNow(): number;
}
export const ADMISSION_CLOCK = Symbol('ADMISSION_CLOCK');
const systemClocks: AdmissionClock = { now: () => performance.now(), wallNow: () => Date.now() };

/** Weight of the newest sample in a model's service-time average. */
const EWMA_ALPHA = 0.2;
/** Service-time estimates kept (one per model version seen; old versions fall out). */
const MAX_MODELS = 16;

/** One admitted request, from its arrival until its response is done. */
export interface Ticket {
  readonly arrivalMs: number;
  /** Absolute deadline on the admission clock; null: none. */
  readonly deadlineAtMs: number | null;
  /** Whether the client sent it (either deadline header), rather than the configured default applying. */
  readonly deadlineSent: boolean;
  /** Model version whose service time it was admitted against. */
  readonly model: string;
  /** When its answer was handed to the socket (onSend), if it was. */
  sentAtMs?: number;
  done: boolean;
}

export type Admission =
  { admitted: true; ticket: Ticket } | { admitted: false; reason: ShedReason; retryAfterS: number };

/**
 * Admission control for POST /v1/score. The requests in flight share the event loop stage by stage
 * (body, Redis, assembly, the run), so they progress together rather than one after another: all of
 * them finish around now + (requests in flight + 1) x the model's recent service time, and admitting
 * one more delays every request already admitted. A request is shed (503 + Retry-After, before any
 * work) when its deadline has passed, when SCORER_MAX_QUEUE requests are in flight, or when that
 * prediction ends after its own deadline or after the earliest deadline still ahead among those in
 * flight. With nothing in flight a request is always admitted (unless expired), so a stale high
 * estimate cannot shed everything forever.
 */
@Injectable()
export class AdmissionService {
  private readonly tickets = new WeakMap<object, Ticket>();
  /** Admitted and not yet finished (at most SCORER_MAX_QUEUE): its size is the number in flight. */
  private readonly active = new Set<Ticket>();
  /** When the last scored answer finished: the start of the next one's service, if it waited. */
  private lastDepartureMs = Number.NEGATIVE_INFINITY;
  private readonly serviceMs = new Map<string, number>();

  constructor(
    @Inject(SCORER_CONFIG) private readonly config: ScorerConfig,
    private readonly metrics: ScorerMetrics,
    @Optional() @Inject(ADMISSION_CLOCK) private readonly clock: AdmissionClock = systemClocks,
  ) {}

  now(): number {
    return this.clock.now();
  }

  wallNow(): number {
    return this.clock.wallNow();
  }

  /** Requests admitted and not yet done. */
  get depth(): number {
    return this.active.size;
  }

  /** The model's service-time estimate in ms (undefined before its first scored answer). */
  estimateMs(model: string): number | undefined {
    return this.serviceMs.get(model);
  }

  /**
   * Decides on a request that arrived at `arrivalMs` with a budget of `budgetMs` (null: the configured
   * default), to be scored by `model`. An admitted request must be finished exactly once.
   */
  admit(arrivalMs: number, budgetMs: number | null, model: string): Admission {
    const budget = budgetMs ?? (this.config.SCORER_DEFAULT_DEADLINE_MS || null);
    const deadlineAtMs = budget === null ? null : arrivalMs + budget;
    const now = this.clock.now();
    if (deadlineAtMs !== null && now >= deadlineAtMs) return this.shed('expired', 0);
    const estimate = this.serviceMs.get(model);
    const inFlight = this.active.size;
    const backlogMs = inFlight * (estimate ?? 0);
    if (inFlight >= this.config.SCORER_MAX_QUEUE) return this.shed('queue_full', backlogMs);
    if (inFlight > 0 && estimate !== undefined) {
      const finishMs = now + backlogMs + estimate;
      if (finishMs > Math.min(deadlineAtMs ?? Infinity, this.earliestDeadlineAhead(now)))
        return this.shed('predicted_late', backlogMs);
    }
    const ticket: Ticket = { arrivalMs, deadlineAtMs, deadlineSent: budgetMs !== null, model, done: false };
    this.active.add(ticket);
    this.metrics.admitted.set(this.active.size);
    return { admitted: true, ticket };
  }

  /** The earliest deadline among the requests in flight that can still be met (Infinity: none). */
  private earliestDeadlineAhead(now: number): number {
    let earliest = Infinity;
    for (const t of this.active)
      if (t.deadlineAtMs !== null && t.deadlineAtMs > now && t.deadlineAtMs < earliest)
        earliest = t.deadlineAtMs;
    return earliest;
  }

  /**
   * The deadline the scoring work must keep: the one the client sent, which says it will not use a later
   * answer. Undefined without one: SCORER_DEFAULT_DEADLINE_MS only decides admission, and a request
   * admitted under it is answered even when late (and counted late).
   */
  deadlineOf(ticket: Ticket): WorkDeadline | undefined {
    if (ticket.deadlineAtMs === null || !ticket.deadlineSent) return undefined;
    return { passed: () => this.sentDeadlinePassed(ticket) };
  }

  /** Whether the deadline the client sent (if any) has passed. */
  sentDeadlinePassed(ticket: Ticket): boolean {
    return ticket.deadlineSent && ticket.deadlineAtMs !== null && this.clock.now() > ticket.deadlineAtMs;
  }

  /** The request's answer is being handed to the socket. */
  sending(ticket: Ticket): void {
    ticket.sentAtMs = this.clock.now();
  }

  /** An admitted request given up because its deadline passed during the work (answered 503). */
  abandoned(at: AbandonedAt): void {
    this.metrics.shed.inc({ reason: 'deadline_exceeded' });
    this.metrics.abandoned.inc({ at });
  }

  /** Remembers the ticket of a request (keyed by its raw IncomingMessage) for the handler. */
  attach(request: object, ticket: Ticket): void {
    this.tickets.set(request, ticket);
  }

  ticketOf(request: object): Ticket | undefined {
    return this.tickets.get(request);
  }

  /**
   * Called when the handler is about to start the work (after the body was read): a request whose
   * deadline passed while it waited is shed now rather than scored for nobody. Returns the reason.
   */
  expiredBeforeWork(ticket: Ticket): ShedReason | null {
    if (ticket.deadlineAtMs === null || this.clock.now() < ticket.deadlineAtMs) return null;
    this.metrics.shed.inc({ reason: 'expired' });
    return 'expired';
  }

  /**
   * The request's response is done (or its connection closed). `scored`: a 200 was sent, so the work
   * was done: its time feeds the model's estimate and an answer past its deadline is counted late.
   */
  finish(ticket: Ticket, scored: boolean): void {
    if (ticket.done) return;
    ticket.done = true;
    this.active.delete(ticket);
    this.metrics.admitted.set(this.active.size);
    if (!scored) return;
    const now = this.clock.now();
    // Late if the answer left after the deadline: when it was handed to the socket, not when the
    // response's close event got its turn on the loop.
    const sentAtMs = ticket.sentAtMs ?? now;
    if (ticket.deadlineAtMs !== null && sentAtMs > ticket.deadlineAtMs) this.metrics.late.inc();
    // Service time = time since the previous answer when this one was already waiting for it, else
    // since its own arrival: the interval between departures of a busy single server.
    const sample = now - Math.max(this.lastDepartureMs, ticket.arrivalMs);
    this.lastDepartureMs = now;
    const prev = this.serviceMs.get(ticket.model);
    this.serviceMs.delete(ticket.model); // re-inserted last: the map's order is most recently used
    this.serviceMs.set(ticket.model, prev === undefined ? sample : prev + EWMA_ALPHA * (sample - prev));
    if (this.serviceMs.size > MAX_MODELS) this.serviceMs.delete(this.serviceMs.keys().next().value!);
  }

  private shed(reason: ShedReason, backlogMs: number): Admission {
    this.metrics.shed.inc({ reason });
    // Whole seconds (RFC 9110): at least 1, more when the backlog itself is longer.
    return { admitted: false, reason, retryAfterS: Math.max(1, Math.ceil(backlogMs / 1000)) };
  }
}
