// CPU time of processes, so that efficiency can be compared even when other jobs share the two cores:
// wall-clock rates swing with the load, CPU seconds per unit of work much less.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const CLK_TCK = 100;
const STACK_RUN = join(__dirname, '..', '..', '.local', 'stack', 'run');

/** utime + stime from a /proc stat file (a process's or a thread's), seconds; null when it is gone. */
function statSeconds(path: string): number | null {
  let stat: string;
  try {
    stat = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // fields 14 and 15 of proc(5)
}

/** utime + stime of a live process, seconds (0 when it is gone). */
export function cpuSeconds(pid: number | undefined): number {
  return pid ? (statSeconds(`/proc/${pid}/stat`) ?? 0) : 0;
}

export const SERVICES = ['kafka', 'clickhouse', 'redis'] as const;

/** The local stack's process id of `name` (undefined when this machine does not run it). */
export function servicePid(name: (typeof SERVICES)[number]): number | undefined {
  const file = join(STACK_RUN, `${name}.pid`);
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : undefined;
}

/** The whole box's CPU seconds from /proc/stat: busy (user, nice, system, irq, softirq) and stolen by the hypervisor. */
export function boxCpu(): { busy: number; steal: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return { busy: (user + nice + system + irq + softirq) / CLK_TCK, steal: steal / CLK_TCK };
}
export type ServiceCpu = Record<(typeof SERVICES)[number], number>;

/** CPU seconds of the local stack's Kafka, ClickHouse and Redis (0 for one this machine does not run). */
export function servicesCpu(): ServiceCpu {
  const out = { kafka: 0, clickhouse: 0, redis: 0 };
  for (const name of SERVICES) out[name] = cpuSeconds(servicePid(name));
  return out;
}

export const servicesSince = (start: ServiceCpu): ServiceCpu => {
  const now = servicesCpu();
  return {
    kafka: now.kafka - start.kafka,
    clickhouse: now.clickhouse - start.clickhouse,
    redis: now.redis - start.redis,
  };
};

export const totalCpu = (c: ServiceCpu): number => c.kafka + c.clickhouse + c.redis;

/** CPU seconds of `pid`'s main thread (the request loop) and of all its other threads together. */
export function threadCpu(pid: number): { loop: number; others: number } {
  const out = { loop: 0, others: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    // null: the thread ended between the listing and the read.
    const s = statSeconds(`/proc/${pid}/task/${tid}/stat`) ?? 0;
    // Every thread of node is named "node": the main thread is told apart by its id only.
    if (tid === String(pid)) out.loop += s;
    else out.others += s;
  }
  return out;
}
