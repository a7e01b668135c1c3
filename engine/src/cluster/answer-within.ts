/**
 * Redis's answer to `call`, or `fallback` when none comes within `timeoutMs` or the call fails: for a
 * cluster-wide check that must not hold a client up while Redis is away (the edge's own check still
 * holds). `onUnanswered` is called once per call, also when Redis rejects after the timeout.
 */
export async function answerWithin<T>(call: () => Promise<T>, timeoutMs: number, fallback: T, onUnanswered?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let counted = false;
  const unanswered = () => {
    if (!counted) onUnanswered?.();
    counted = true;
    return fallback;
  };
  const late = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(unanswered()), timeoutMs)));
  try {
    return await Promise.race([call().then((v) => v, unanswered), late]);
  } finally {
    clearTimeout(timer);
  }
}
