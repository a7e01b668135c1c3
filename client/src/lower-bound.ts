/** The index of the first item at or after `time` in a list sorted by `timeOf` (the list's length when none is). */
export function lowerBound<T>(list: readonly T[], time: number, timeOf: (item: T) => number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (timeOf(list[mid]!) < time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
