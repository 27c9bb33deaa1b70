import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_FILE } from '@mmctr/feature-repo';

export const DEMO_AGGREGATES = join(__dirname, '..', '..', '..', 'feature-repos', 'demo-aggregates');

/**
 * Aggregation declarations of feature-repos/demo-aggregates, by name, in the order asked, without their
 * descriptions: the specs that build their own repositories on the demo one declare the same item
 * counters and CTR from here instead of a second copy.
 */
export function demoAggregations(...names: string[]): Record<string, unknown>[] {
  const doc = JSON.parse(readFileSync(join(DEMO_AGGREGATES, REPO_FILE), 'utf8')) as {
    aggregations: Record<string, unknown>[];
  };
  return names.map((name) => {
    const found = doc.aggregations.find((a) => a.name === name);
    if (found === undefined) throw new Error(`${DEMO_AGGREGATES} declares no aggregation ${name}`);
    const { description: _description, ...declaration } = found;
    return declaration;
  });
}
