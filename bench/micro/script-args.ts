/**
 * What the shape of a script call's arguments costs the caller: one EVALSHA carrying `updates`
 * updates as the leader's batch write does (3 keys and 5 arguments each, 8 per update), against the
 * same values joined into one argument, on a private redis-server whose scripts only count their
 * arguments (so only the client side and Redis's parsing differ). Calls one after another, each
 * answered before the next; per call: this process's CPU (user and system) and the wall time.
 * Rounds alternate the two shapes.
 *
 *   npx tsx bench/micro/script-args.ts [updates=16] [calls=5000] [rounds=3]
 */
import { Redis } from 'ioredis';
import { RedisProcess } from '../../spec/helpers/redis-process.ts';

const updates = Number(process.argv[2] ?? 16);
const calls = Number(process.argv[3] ?? 5000);
const rounds = Number(process.argv[4] ?? 3);
const MEMBER = '[1700000000000,"43210.12","43250.5","43190.01","43222.2","123.456",1]';

type Counting = Redis & {
  spread(...args: Array<string | number>): Promise<number>;
  packed(arg: string): Promise<number>;
};

const server = await RedisProcess.start();
const redis = new Redis(server.url) as Counting;
redis.defineCommand('spread', { lua: 'return #KEYS + #ARGV' });
redis.defineCommand('packed', { numberOfKeys: 0, lua: 'return #ARGV' });

function spreadArgs(i: number): Array<string | number> {
  const keys = ['lease'];
  const args: Array<string | number> = ['token', 'run', 'epoch', 1000, 1000];
  for (let k = 0; k < updates; k++) {
    keys.push(`cluster:c:SYM${k}:1m`, `cluster:p:SYM${k}:1m`, `cluster:h:SYM${k}:1m`);
    args.push(1_700_000_000_000 + i, MEMBER, 0, 123.456, `cluster:ch:SYM${k}:1m`);
  }
  return [keys.length, ...keys, ...args];
}

function packedArg(i: number): string {
  const parts: Array<string | number> = ['token', 'run', 'epoch', 1000, 1000];
  for (let k = 0; k < updates; k++) parts.push(`cluster:c:SYM${k}:1m`, `cluster:p:SYM${k}:1m`, `cluster:h:SYM${k}:1m`, 1_700_000_000_000 + i, MEMBER, 0, 123.456, `cluster:ch:SYM${k}:1m`);
  return parts.join('\n');
}

async function measure(shape: 'spread' | 'packed'): Promise<{ cpuUs: number; userUs: number; sysUs: number; wallUs: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await (shape === 'spread' ? redis.spread(...spreadArgs(i)) : redis.packed(packedArg(i)));
  const c = process.cpuUsage(c0);
  const wall = performance.now() - t0;
  return { cpuUs: (c.user + c.system) / calls, userUs: c.user / calls, sysUs: c.system / calls, wallUs: (wall * 1000) / calls };
}

try {
  const fmt = (x: number) => x.toFixed(1).padStart(7);
  console.log(`${updates} updates per call, ${calls} calls per round; µs per call: CPU (user + system), wall`);
  for (let r = 0; r < rounds; r++)
    for (const shape of ['spread', 'packed'] as const) {
      const m = await measure(shape);
      console.log(`round ${r + 1} ${shape.padEnd(6)} CPU ${fmt(m.cpuUs)} (${fmt(m.userUs)} + ${fmt(m.sysUs)}), wall ${fmt(m.wallUs)}`);
    }
} finally {
  redis.disconnect();
  await server.stop();
}
