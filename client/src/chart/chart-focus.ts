/** What chartFocus needs of an element (a real one in the page, a plain object in a test). */
export interface Focusable {
  tabIndex: number;
  setAttribute(name: string, value: string): void;
}

/**
 * KLineChart's container as a keyboard stop: it sets `tabindex="1"`, which put the chart ahead of
 * every control in the tab order, with no name and no visible focus (a review). Given tabindex 0 (in
 * page order: its hotkeys scroll and zoom), a role and `data-chart-focus` (styled with a focus
 * ring); returned so the caller names it (`aria-label`) as the series changes.
 */
export function chartFocus<E extends Focusable>(root: { querySelectorAll(selector: string): Iterable<E> }): E | undefined {
  let found: E | undefined;
  for (const el of root.querySelectorAll('[tabindex]')) {
    if (el.tabIndex <= 0) continue;
    el.tabIndex = 0;
    el.setAttribute('role', 'region');
    el.setAttribute('data-chart-focus', '');
    found ??= el;
  }
  return found;
}
