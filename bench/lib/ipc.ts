import { type ChildProcess, fork } from 'node:child_process';

/** A message over the IPC channel: requests carry `id` and `cmd`; replies echo the id; events have `event`. */
type Message = { id?: number; cmd?: string; event?: string; ok?: boolean; result?: unknown; error?: string; [k: string]: unknown };

export interface ForkOptions {
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Passed to the child as its first argument, JSON-encoded. */
  config?: unknown;
  /** How long to wait for the child's `ready` event. */
  readyTimeoutMs?: number;
}

/**
 * A child process running a TypeScript entry (through tsx) that answers requests over IPC.
 * The child is killed when it does not become ready in time or when `stop` times out.
 */
export class Child {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly listeners = new Map<string, Array<(m: Message) => void>>();
  readonly exited: Promise<number | null>;
  readonly ready: Promise<Message>;

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    readyTimeoutMs: number,
  ) {
    this.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.on('message', (raw) => this.dispatch(raw as Message));
    void this.exited.then((code) => {
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`${name} exited (${code}) before answering`));
      }
      this.pending.clear();
    });
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`${name} not ready within ${readyTimeoutMs} ms`));
      }, readyTimeoutMs);
      this.once('ready', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code}) before it was ready`));
      });
    });
    this.ready.catch(() => {}); // observed by the caller; never an unhandled rejection
  }

  static fork(name: string, entry: string, opts: ForkOptions = {}): Child {
    const proc = fork(entry, opts.config === undefined ? [] : [JSON.stringify(opts.config)], {
      execArgv: ['--import', 'tsx', ...(opts.nodeArgs ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    return new Child(name, proc, opts.readyTimeoutMs ?? 60_000);
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  request<T = unknown>(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: '${cmd}' not answered within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.proc.send({ ...args, id, cmd });
    });
  }

  /** Fire-and-forget message (no reply expected). */
  post(cmd: string, args: Record<string, unknown> = {}): void {
    if (this.proc.connected) this.proc.send({ ...args, cmd });
  }

  on(event: string, fn: (m: Message) => void): void {
    const list = this.listeners.get(event) ?? [];
    list.push(fn);
    this.listeners.set(event, list);
  }

  private once(event: string, fn: (m: Message) => void): void {
    const wrapped = (m: Message) => {
      this.listeners.set(event, (this.listeners.get(event) ?? []).filter((f) => f !== wrapped));
      fn(m);
    };
    this.on(event, wrapped);
  }

  private dispatch(m: Message): void {
    if (m.event) {
      for (const fn of this.listeners.get(m.event) ?? []) fn(m);
      return;
    }
    const p = m.id === undefined ? undefined : this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id!);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(`${this.name}: ${m.error}`));
  }

  /** Asks the child to stop cleanly (so --cpu-prof can write its profile); kills it after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    this.post('stop');
    await this.exited;
    clearTimeout(killer);
  }
}

export type Handler = (msg: Message) => unknown | Promise<unknown>;

/**
 * Child side: answers requests with the handler named by `cmd`. `stop` runs `onStop` then exits;
 * losing the parent (IPC disconnect) exits too, so no child outlives a crashed bench run.
 */
export function serve(handlers: Record<string, Handler>, onStop: () => Promise<void> | void): void {
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await onStop();
    } finally {
      process.exit(0);
    }
  };
  process.on('disconnect', () => void stop());
  process.on('message', (raw) => {
    const m = raw as Message;
    if (m.cmd === 'stop') return void stop();
    const h = m.cmd ? handlers[m.cmd] : undefined;
    const reply = (r: Message) => {
      if (m.id !== undefined && process.connected) process.send!({ ...r, id: m.id });
    };
    if (!h) return reply({ ok: false, error: `unknown command ${m.cmd}` });
    Promise.resolve()
      .then(() => h(m))
      .then(
        (result) => reply({ ok: true, result }),
        (e: unknown) => reply({ ok: false, error: e instanceof Error ? e.message : String(e) }),
      );
  });
}

/** Child side: an unsolicited message to the parent. */
export function emit(event: string, body: Record<string, unknown> = {}): void {
  if (process.connected) process.send!({ ...body, event });
}

/** Child side: the JSON config the parent passed as the first argument. */
export function childConfig<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T;
}
