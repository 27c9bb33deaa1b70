// Ranking and calibration metrics over (score, label) pairs, fast enough for millions of rows.

/**
 * ROC AUC = P(score of a random positive > score of a random negative), ties counted half.
 * Sorts positives and negatives separately (typed-array sorts) and merges: O(n log n).
 */
export function auc(
  scores: ArrayLike<number>,
  labels: ArrayLike<number | boolean>,
  include?: (i: number) => boolean,
): number {
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    if (include && !include(i)) continue;
    (labels[i] ? pos : neg).push(scores[i] as number);
  }
  if (pos.length === 0 || neg.length === 0) return Number.NaN;
  const p = Float64Array.from(pos).sort();
  const n = Float64Array.from(neg).sort();
  let below = 0; // negatives strictly below the current positive score
  let equal = 0; // negatives equal to it
  let sum = 0;
  for (let i = 0; i < p.length; i++) {
    const s = p[i] as number;
    while (below < n.length && (n[below] as number) < s) below++;
    equal = below;
    while (equal < n.length && (n[equal] as number) === s) equal++;
    sum += below + 0.5 * (equal - below);
  }
  return sum / (p.length * n.length);
}

/** Mean binary cross-entropy, probabilities clipped to [eps, 1 - eps]. */
export function logLoss(
  probs: ArrayLike<number>,
  labels: ArrayLike<number | boolean>,
  include?: (i: number) => boolean,
  eps = 1e-7,
): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < probs.length; i++) {
    if (include && !include(i)) continue;
    const p = Math.min(1 - eps, Math.max(eps, probs[i] as number));
    sum -= labels[i] ? Math.log(p) : Math.log(1 - p);
    count++;
  }
  return count > 0 ? sum / count : Number.NaN;
}
