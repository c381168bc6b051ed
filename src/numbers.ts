/**
 * `1,234`: a count as en-US writes it, for every report, progress line and screen. Grouped by
 * hand: the first toLocaleString() loads ICU's number formats, about 15 ms of every replay's
 * report; non-integers and -0 still go to it.
 */
export function count(x: number): string {
  return Number.isSafeInteger(x) && !Object.is(x, -0)
    ? String(x).replace(/\B(?=(\d{3})+$)/g, ",")
    : x.toLocaleString("en-US");
}
