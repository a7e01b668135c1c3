/** A small Prometheus registry: counters and gauges with optional labels, rendered as text format 0.0.4. */
type Labels = Record<string, string>;

interface Family {
  help: string;
  type: 'counter' | 'gauge';
  values: Map<string, number>;
}

function labelKey(labels?: Labels): string {
  if (!labels) return '';
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/["\\\n]/g, '_')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class Metrics {
  private readonly families = new Map<string, Family>();
  private readonly collectors: Array<() => void> = [];

  private family(name: string, type: Family['type'], help: string): Family {
    let f = this.families.get(name);
    if (!f) {
      f = { help, type, values: new Map() };
      this.families.set(name, f);
    }
    return f;
  }

  /** Declares a counter; returns an incrementer. */
  counter(name: string, help: string): (n?: number, labels?: Labels) => void {
    const f = this.family(name, 'counter', help);
    return (n = 1, labels) => {
      const k = labelKey(labels);
      f.values.set(k, (f.values.get(k) ?? 0) + n);
    };
  }

  /** Declares a gauge; returns a setter. */
  gauge(name: string, help: string): (v: number, labels?: Labels) => void {
    const f = this.family(name, 'gauge', help);
    return (v, labels) => void f.values.set(labelKey(labels), v);
  }

  /** Runs before every render: for gauges read from live state. */
  onCollect(fn: () => void): void {
    this.collectors.push(fn);
  }

  value(name: string, labels?: Labels): number {
    return this.families.get(name)?.values.get(labelKey(labels)) ?? 0;
  }

  render(): string {
    for (const c of this.collectors) c();
    let out = '';
    for (const [name, f] of this.families) {
      out += `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.type}\n`;
      if (f.values.size === 0) out += `${name} 0\n`;
      for (const [k, v] of f.values) out += `${name}${k} ${v}\n`;
    }
    return out;
  }
}
