/**
 * Re-renders the table of a results file with the current row definitions (figures derived from the
 * stored measurements; nothing is re-measured):  npx tsx bench/report.ts bench/results/<file>.json
 */
import { readFileSync } from 'node:fs';
import type { ServerKind } from './lib/server-under-test.ts';
import { renderTable, type RowWithRatios, withRatios } from './lib/table.ts';
import { type FanoutData, fanoutReport } from './scenarios/fanout.ts';
import { stormReport } from './scenarios/connect-storm.ts';
import type { Row, ScenarioOutput } from './scenarios/context.ts';

interface ResultsFile {
  command: string;
  startedAt: string;
  elapsedS: number;
  machine: Record<string, unknown>;
  options: { servers: ServerKind[] };
  rows: RowWithRatios[];
  scenarios: Record<string, ScenarioOutput>;
}

const file = process.argv[2];
if (!file) throw new Error('usage: tsx bench/report.ts <results.json>');
const res = JSON.parse(readFileSync(file, 'utf8')) as ResultsFile;
const rebuilt: Record<string, () => ScenarioOutput> = {
  fanout: () => fanoutReport(res.scenarios.fanout!.data as FanoutData),
  storm: () => stormReport(res.scenarios.storm!.data as Parameters<typeof stormReport>[0]),
};
const rows: Row[] = [];
const limits: string[] = [];
for (const [name, out] of Object.entries(res.scenarios)) {
  const r = rebuilt[name]?.() ?? out;
  rows.push(...r.rows);
  limits.push(...(r.limits ?? []));
}
process.stdout.write(`${res.command} — ${res.startedAt}, ${res.elapsedS} s; ${JSON.stringify(res.machine)}\n\n`);
process.stdout.write(`${renderTable(rows.map(withRatios), res.options.servers)}\n\n`);
if (limits.length) process.stdout.write(`What limited each fan-out ramp:\n${limits.map((l) => `  ${l}`).join('\n')}\n`);
