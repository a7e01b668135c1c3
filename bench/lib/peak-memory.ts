/** This process's peak RSS and heap in use, sampled every `everyMs` from now until `stop` (which samples once more). */
export function peakMemory(everyMs = 20): { stop(): { peakRss: number; peakHeap: number } } {
  let peakRss = 0;
  let peakHeap = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  const sampler = setInterval(sample, everyMs);
  sample();
  return {
    stop() {
      sample();
      clearInterval(sampler);
      return { peakRss, peakHeap };
    },
  };
}
