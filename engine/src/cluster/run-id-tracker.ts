import type { Redis } from 'ioredis';
import type { FencedWriterConfig } from './fenced-writer-config.ts';
import { redisRunId } from './redis-identity.ts';

/** The run id of the Redis written to, learned once per connection; a change of it is told (see onRedisChanged). */
export class RunIdTracker {
  private runId: Promise<string> | undefined;
  /** The run id once learned on the current connection: batches then go out at the end of their turn. */
  private knownRunId: string | undefined;
  /** The run id last learned (kept across reconnects: a change is told, see onRedisChanged). */
  private lastRunId: string | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly cfg: Pick<FencedWriterConfig, 'onRedisChanged'>,
  ) {}

  get known(): string | undefined {
    return this.knownRunId;
  }

  /** See FencedWriter.newTerm. */
  newTerm(): void {
    this.lastRunId = undefined;
  }

  /** A new connection may reach a restarted Redis: its identity is learned again before the next write. */
  readonly forget = (): void => {
    this.runId = undefined;
    this.knownRunId = undefined;
  };

  identity(): Promise<string> {
    if (this.runId) return this.runId;
    const p = (this.runId = redisRunId(this.redis));
    p.then(
      (id) => {
        if (this.runId === p) this.knownRunId = id;
        const before = this.lastRunId;
        this.lastRunId = id;
        if (before !== undefined && before !== id) this.cfg.onRedisChanged?.(before, id);
      },
      () => {
        if (this.runId === p) this.runId = undefined;
      },
    );
    return p;
  }
}
