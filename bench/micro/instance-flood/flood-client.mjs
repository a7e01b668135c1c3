/* global process, setTimeout, clearTimeout, console */
// node flood-client.mjs EDGEURL SECS ADDRS(comma) LABELTEMPLATE(with {a} {i}: {i} cycles 30..929) PER
// One process: for every (address, series) a sequential loop of sockets each asking PER new derived-series labels; closes at historical.
import WebSocket from 'ws';
const [base, secs, addrs, tpl, per] = [process.argv[2], Number(process.argv[3]), process.argv[4].split(','), process.argv[5], Number(process.argv[6] ?? 4)];
const series = [['BTCUSDT', '1m'], ['BTCUSDT', '5m'], ['ETHUSDT', '1m'], ['ETHUSDT', '5m']];
const end = Date.now() + secs * 1000; const res = {}; const bump = (k) => (res[k] = (res[k] ?? 0) + 1);
let instances = 0;
async function loop(ai, addr, sym, iv) {
  let i = 0;
  while (Date.now() < end) {
    const labels = []; for (let j = 0; j < per; j++) labels.push(tpl.replaceAll('{a}', String(ai)).replaceAll('{i}', String(30 + (i++ % 900))));
    const url = `${base}/ws/${sym}?interval=${iv}&series=${labels.join(',')}`;
    await new Promise((resolve) => {
      const ws = new WebSocket(url, { localAddress: addr });
      const t = setTimeout(() => { bump('timeout'); ws.terminate(); resolve(); }, Math.max(100, end - Date.now()));
      ws.on('message', (d) => { const m = JSON.parse(d.toString()); if (m.type === 'historical') { bump('ok'); instances += per; clearTimeout(t); ws.close(); resolve(); } else if (m.type === 'error') bump(m.code ?? m.message.slice(0, 60)); });
      ws.on('close', () => { clearTimeout(t); resolve(); });
      ws.on('error', () => {});
      ws.on('unexpected-response', (q, r) => { bump('http' + r.statusCode); clearTimeout(t); setTimeout(resolve, 200); });
    });
    if (res.rate_limited) await new Promise((r) => setTimeout(r, 100));
  }
}
await Promise.all(addrs.flatMap((a, ai) => series.map(([s, iv]) => loop(ai, a, s, iv))));
console.log(JSON.stringify({ res, instancesServed: instances }));
process.exit(0);
