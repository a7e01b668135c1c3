/** Longest NODE_ID: it is part of Redis keys and of every node's /health and metrics. */
export const MAX_NODE_ID = 64;

/**
 * The NODE_ID a node takes when none is set: its host name and pid, made to pass NODE_ID's own check.
 * A long host name (a Kubernetes pod's is up to 63 characters, an FQDN up to 253) made the default too
 * long, and a node given no NODE_ID refused to start blaming NODE_ID (an attacker-style review). The
 * pid is kept whole: two processes on one host must differ.
 */
export function defaultNodeId(host: string, pid: number): string {
  const tail = `-${pid}`;
  const name = host.replace(/[^\w.-]/g, '-').slice(0, MAX_NODE_ID - tail.length) || 'node';
  return `${name}${tail}`;
}
