/* global process, setTimeout, console, performance, fetch, AbortSignal */
// node livez.mjs URL seconds -> samples /livez latency every 100ms, prints p50/p99/max
const [url, secs] = [process.argv[2], Number(process.argv[3] ?? 20)];
const lat = []; let fails = 0;
const end = Date.now() + secs * 1000;
while (Date.now() < end) {
  const t = performance.now();
  try { const r = await fetch(url + '/livez', { signal: AbortSignal.timeout(5000) }); await r.text(); lat.push(performance.now() - t); } catch { fails++; lat.push(5000); }
  await new Promise((r) => setTimeout(r, 100));
}
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1);
console.log(`livez n=${lat.length} p50=${q(0.5)}ms p90=${q(0.9)}ms p99=${q(0.99)}ms max=${lat.at(-1).toFixed(1)}ms fails=${fails}`);
