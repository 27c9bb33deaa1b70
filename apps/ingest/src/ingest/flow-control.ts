import { Injectable } from '@nestjs/common';

/**
 * Tracks which stores are failing. Consumption pauses while any is, and resumes when all recover.
 */
@Injectable()
export class FlowControl {
  private readonly failing = new Set<string>();
  private readonly listeners: ((paused: boolean) => void)[] = [];

  get paused(): boolean {
    return this.failing.size > 0;
  }

  get failingTargets(): string[] {
    return [...this.failing];
  }

  onChange(listener: (paused: boolean) => void): void {
    this.listeners.push(listener);
  }

  fail(target: string): void {
    const was = this.paused;
    this.failing.add(target);
    if (!was) for (const l of this.listeners) l(true);
  }

  ok(target: string): void {
    if (!this.failing.delete(target)) return;
    if (!this.paused) for (const l of this.listeners) l(false);
  }
}
