/** Polls `pred` every `everyMs` until it holds; past `ms`, throws naming `what` (what a spec was waiting for). */
export async function until(pred: () => boolean | Promise<boolean>, ms = 10_000, what = 'a condition', everyMs = 25): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
