/** 5-NN on the map's coordinates, fit on the train points, scored on the validation points. */
export function knn2dAccuracy(map: { points: Array<{ split: string; label: string; x: number; y: number }> }, k = 5): number {
  const train = map.points.filter((p) => p.split === 'train');
  const validation = map.points.filter((p) => p.split === 'validation');
  let right = 0;
  for (const p of validation) {
    const nearest = train
      .map((q) => ({ d: (q.x - p.x) ** 2 + (q.y - p.y) ** 2, label: q.label }))
      .sort((a, b) => a.d - b.d)
      .slice(0, k);
    const votes = new Map<string, number>();
    for (const q of nearest) votes.set(q.label, (votes.get(q.label) ?? 0) + 1);
    const best = [...votes].sort((a, b) => b[1] - a[1])[0][0];
    if (best === p.label) right++;
  }
  return right / validation.length;
}
