/**
 * Edit distance where a swap of two neighbouring letters counts as one edit (optimal string
 * alignment), since "dney" for "deny" is the typo people make.
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, rows[i - 2]![j - 2]! + 1);
      }
      row.push(v);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/** The candidate nearest to `word` if it is close enough to be a likely typo, else undefined. */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  // Two edits for words of four letters or more ("grnt" -> "grants"), one for shorter ones.
  const limit = word.length >= 4 ? Math.max(2, Math.floor(word.length / 3)) : 1;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** ` did you mean "x"?` or "" — ready to append to a message. */
export function didYouMean(word: unknown, candidates: Iterable<string>): string {
  if (typeof word !== "string") return "";
  const s = suggest(word, candidates);
  return s === undefined ? "" : `; did you mean "${s}"?`;
}
