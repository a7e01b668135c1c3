/**
 * Where the leader's write script spends Redis's time, per update: the script as it is (WRITE_BATCH_LUA)
 * against the floor of the same five commands per update (HMGET, ZREMRANGEBYSCORE, ZADD, HSET,
 * PUBLISH) issued from Lua with tiny arguments and no logic: what the script cost when it made them
 * for every update (a series' second and later updates in a call now hold theirs: 13 of the 33 here
 * publish only). A private redis-server, 20 series of 1,000 closed bars each, then `calls` script calls
 * of 33 updates of the series' forming bars (a burst as the saturation bench's leader sends them), a
 * subscriber on every channel. Redis's own accounting (commandstats: the script's wall time, its
 * commands included).
 *
 *   npx tsx bench/micro/write-script-cost.ts [calls=3000]
 */
import { Redis } from 'ioredis';
import { WRITE_BATCH_LUA } from '../../engine/src/cluster/cluster-scripts.ts';
import { RedisProcess } from '../../spec/helpers/redis-process.ts';

const calls = Number(process.argv[2] ?? 3000);
const PER_CALL = 33;
const series = Array.from({ length: 20 }, (_, i) => `SYM${i}USDT:1m`);
const T0 = 1_700_000_000_000;
const member = (t: number, v: number, closed: 0 | 1) => `[${t},100.12,101.55,99.87,100.45,${v.toFixed(3)},${closed}]`;

/** The same five commands per update, from Lua, with nothing else: what a script cannot go below. */
const COMMANDS_ONLY = `for i = 1, ${PER_CALL} do
  redis.call('HMGET', 'pos:S', 'epoch', 'offset', 'runid', 'nt', 'nm', 'hk')
  redis.call('ZREMRANGEBYSCORE', 'candles:S', 5, 5)
  redis.call('ZADD', 'candles:S', 5, 'x')
  redis.call('HSET', 'pos:S', 'offset', i, 'nt', 5, 'nm', 'x', i % 1000, 'x')
  redis.call('PUBLISH', 'ch:S', 'x')
end
return 0`;

const redis = await RedisProcess.start();
const r = new Redis(redis.url);
const sub = new Redis(redis.url);
try {
  r.defineCommand('writeBatch', { lua: WRITE_BATCH_LUA });
  r.defineCommand('commandsOnly', { numberOfKeys: 0, lua: COMMANDS_ONLY });
  const write = (r as unknown as { writeBatch(...a: Array<string | number>): Promise<unknown> }).writeBatch.bind(r);
  const floor = (r as unknown as { commandsOnly(): Promise<unknown> }).commandsOnly.bind(r);
  await r.set('lease', 'token');
  const runId = /run_id:(\w+)/.exec(await r.info('server'))![1]!;
  let received = 0;
  await sub.psubscribe('ch:*');
  sub.on('pmessage', () => received++);
  for (const s of series) {
    let body = '';
    for (let k = 0; k < 1000; k++) body += `${s} ${T0 + k * 60_000} 1 1 ${k < 999 ? 1 : 0} 10 ${member(T0 + k * 60_000, 10, 1)}\n`;
    await write(1, 'lease', 'token', runId, 'seed', 1000, 1000, '', body);
  }
  const scriptUs = async () => Number(/cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(await r.info('commandstats'))?.[1] ?? NaN);

  await r.config('RESETSTAT');
  const t = T0 + 1000 * 60_000;
  let volume = 1;
  for (let c = 0; c < calls; c++) {
    let body = '';
    for (let k = 0; k < PER_CALL; k++) body += `${series[(c * PER_CALL + k) % series.length]} ${t} 0 0 ${k + series.length < PER_CALL ? 1 : 0} ${(volume += 0.001).toFixed(3)} ${member(t, volume, 0)}\n`;
    await write(1, 'lease', 'token', runId, `e${c}`, 1000, 1000, '', body);
  }
  const script = (await scriptUs()) / (calls * PER_CALL);

  await r.config('RESETSTAT');
  for (let c = 0; c < calls; c++) await floor();
  const commands = (await scriptUs()) / (calls * PER_CALL);

  console.log(`${calls} calls of ${PER_CALL} updates (20 series, forming bars), ${received} messages published to the subscriber`);
  console.log(`  the write script:        ${script.toFixed(2)} µs per update in Redis`);
  console.log(`  its 5 commands, no more: ${commands.toFixed(2)} µs per update (${((commands / script) * 100).toFixed(0)} % of the script's)`);
} finally {
  r.disconnect();
  sub.disconnect();
  await redis.stop();
}
