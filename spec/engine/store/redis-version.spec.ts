import { describe, expect, it } from 'vitest';
import { versionProblem } from '../../../engine/src/store/check-redis-database.ts';

/** The cluster roles' lease scripts carry Redis 7's flags (`allow-oom`): an older Redis is refused at start, by name. */
describe('versionProblem (INFO server → a Redis too old for the cluster roles)', () => {
  const info = (v: string) => `# Server\r\nredis_version:${v}\r\nredis_git_sha1:00000000\r\nredis_mode:standalone\r\n`;

  it('names a Redis below the floor', () => {
    expect(versionProblem(info('6.2.14'), 7)).toEqual({ found: 'Redis 6.2.14' });
    expect(versionProblem(info('5.0.7'), 7)).toEqual({ found: 'Redis 5.0.7' });
  });

  it('lets the floor and newer through', () => {
    expect(versionProblem(info('7.0.15'), 7)).toBeUndefined();
    expect(versionProblem(info('7.2.4'), 7)).toBeUndefined();
    expect(versionProblem(info('8.0.0'), 7)).toBeUndefined();
  });

  it('lets an unreadable version through (a compatible server that reports none is not refused)', () => {
    expect(versionProblem('# Server\r\nredis_mode:standalone\r\n', 7)).toBeUndefined();
    expect(versionProblem(info('unknown'), 7)).toBeUndefined();
  });
});
