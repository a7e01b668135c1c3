import os from 'node:os';
import type { WindowStats } from '../lib/measure.ts';

/** Names what most likely capped a measurement window, from the CPU each side used. */
export function limiterOf(w: WindowStats, plannedUpstreamPerS?: number): string {
  if (plannedUpstreamPerS !== undefined && w.upstreamPerS < 0.8 * plannedUpstreamPerS) return 'upstream relay (could not emit the rate)';
  if (disturbed(w)) return `other processes on the machine (${Math.round(w.cpu.foreign * 100)}% of a core)`;
  if (w.cpu.server >= 0.85) return 'server CPU';
  if (w.cpu.companions >= 0.85) return 'ingest node + Redis CPU (the cluster behind the edge)';
  if (w.cpu.clients >= 0.85) return 'load-generator CPU';
  if (w.cpu.machine >= 0.9 * os.cpus().length) return 'all cores busy (server + clients + kernel networking)';
  return 'latency or delivery, CPU not saturated';
}

/** Other work on the shared machine took a noticeable share of the CPU during the window. */
export function disturbed(w: WindowStats): boolean {
  return w.cpu.foreign >= 0.3;
}

/** A window counts as keeping up when nearly every update reached every subscriber within 100 ms. */
export function keepsUp(w: WindowStats, plannedUpstreamPerS: number): boolean {
  const abnormal = Object.entries(w.closes).some(([code, n]) => code !== '1000' && n > 0);
  return w.ratio >= 0.95 && w.latency.p99Ms <= 100 && !abnormal && w.upstreamPerS >= 0.8 * plannedUpstreamPerS;
}

export const cpuText = (w: WindowStats) =>
  `server ${(w.cpu.server * 100).toFixed(0)}%, clients ${(w.cpu.clients * 100).toFixed(0)}%, upstream ${(w.cpu.upstream * 100).toFixed(0)}%, ${w.cpu.companions ? `ingest + Redis ${(w.cpu.companions * 100).toFixed(0)}%, ` : ''}machine ${(w.cpu.machine * 100).toFixed(0)}%${w.cpu.foreign >= 0.1 ? `, OTHER ${(w.cpu.foreign * 100).toFixed(0)}%` : ''}`;
