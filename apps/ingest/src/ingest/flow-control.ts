import { Injectable } from '@nestjs/common';

/**
 * Tracks which stores are failing and since when. Consumption pauses while any is, and resumes when
 * all recover; readiness fails once one has been failing longer than its deadline.
 */
@Injectable()
export class FlowControl {
  /** target -> time of its first failure in the current run of failures */
  private readonly failing = new Map<string, number>();
  private readonly listeners: ((paused: boolean) => void)[] = [];

  get paused(): boolean {
    return this.failing.size > 0;
  }

  get failingTargets(): string[] {
    return [...this.failing.keys()];
  }

  /** Targets failing for longer than `ms`, with how long. */
  failingLongerThan(ms: number, now = Date.now()): { target: string; failingMs: number }[] {
    return [...this.failing]
      .map(([target, since]) => ({ target, failingMs: now - since }))
      .filter((f) => f.failingMs > ms);
  }

  onChange(listener: (paused: boolean) => void): void {
    this.listeners.push(listener);
  }

  fail(target: string, now = Date.now()): void {
    const was = this.paused;
    if (!this.failing.has(target)) this.failing.set(target, now);
    if (!was) for (const l of this.listeners) l(true);
  }

  ok(target: string): void {
    if (!this.failing.delete(target)) return;
    if (!this.paused) for (const l of this.listeners) l(false);
  }
}
