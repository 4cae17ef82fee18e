/** Optimal string alignment distance (Levenshtein plus adjacent transpositions), case-insensitive. */
export function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate a mistyped word most likely meant, or null: at most 1 edit for words up to 4 characters,
 * 2 for longer ones (3 from 12 characters). Earlier candidate lists win ties (the block's own keywords first).
 */
export function suggest(word: string, ...candidateLists: Iterable<string>[]): string | null {
  const max = word.length <= 4 ? 1 : word.length < 12 ? 2 : 3;
  let best: string | null = null;
  let bestDistance = max + 1;
  for (const list of candidateLists) {
    for (const c of list) {
      if (c === word) continue;
      const dist = editDistance(word, c);
      if (dist < bestDistance) {
        best = c;
        bestDistance = dist;
      }
    }
  }
  return best;
}
