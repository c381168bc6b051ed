// The regular-expression definitions the single-pass scanners replaced, kept as the oracle the
// property tests compare against: whatever these redacted, the scanners must redact too.
// Quadratic on adversarial input: only ever give them short strings.

export const ORACLE_SHAPES = new RegExp(
  [
    String.raw`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`,
    String.raw`\bsk-[A-Za-z0-9_-]{16,}`,
    String.raw`\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}`,
    String.raw`\bgh[pousr]_[A-Za-z0-9]{30,}`,
    String.raw`\bgithub_pat_[A-Za-z0-9_]{22,}`,
    String.raw`\bxox[abposr]-[A-Za-z0-9-]{10,}`,
    String.raw`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`,
    String.raw`\bAIza[0-9A-Za-z_-]{35}`,
    String.raw`\bnpm_[A-Za-z0-9]{36}`,
    String.raw`-----BEGIN [A-Z ]*PRIVATE KEY-----`,
  ].join("|"),
);

const RUN_CHAR = /[A-Za-z0-9+/_-]/;

export function oracleLooksLikeToken(s: string): boolean {
  if (s.length < 16) return false;
  if (ORACLE_SHAPES.test(s)) return true;
  if (s.length < 32) return false;
  let start = 0;
  for (let i = 0; i <= s.length; i++) {
    if (i < s.length && RUN_CHAR.test(s[i]!)) continue;
    if (i - start >= 32 && oracleHighEntropy(s.slice(start, i))) return true;
    start = i + 1;
  }
  return false;
}

function oracleHighEntropy(candidate: string): boolean {
  const body = candidate.replace(/=+$/, "");
  if (/^[0-9a-fA-F]+$/.test(body))
    return /[0-9]/.test(body) && /[a-fA-F]/.test(body) && entropy(body) >= 3;
  let classes = 0;
  let switches = 0;
  let lower = 0;
  let lowerRuns = 0;
  let vowels = 0;
  let prev = -1;
  const seen = [false, false, false, false];
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    const cls = c >= 48 && c <= 57 ? 0 : c >= 65 && c <= 90 ? 1 : c >= 97 && c <= 122 ? 2 : 3;
    if (!seen[cls]) {
      seen[cls] = true;
      if (cls < 3) classes++;
    }
    if (prev !== -1 && cls !== prev) switches++;
    if (cls === 2) {
      lower++;
      if (prev !== 2) lowerRuns++;
      if ("aeiou".includes(body[i]!)) vowels++;
    }
    prev = cls;
  }
  if (lowerRuns > 0 && lower / lowerRuns > 3 && vowels / lower >= 0.25) return false;
  return classes >= 2 && switches / (body.length - 1) >= 0.3 && entropy(body) >= 4;
}

function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h;
}

export function oracleWordParts(name: string): string[] {
  return name
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .replace(/([A-Za-z])([0-9])|([0-9])([A-Za-z])/g, "$1$3 $2$4")
    .split(/[^A-Za-z0-9]+/)
    .filter((p) => p.length > 0);
}
