/** The candidates within `maxDistance` edits of `word` (Levenshtein), for "Did you mean ...?" hints. */
export function closeMatches(word: string, candidates: readonly string[], maxDistance = 2): string[] {
  return candidates.filter((c) => editDistance(c, word) <= maxDistance);
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}
