/**
 * Alerts and findings as Wazuh really writes them, for the tests of both dialects: what a test feeds a
 * command (through test/harness/execd.ts) instead of writing its own.
 */

/** Rule 5712 as analysisd writes it into an alert. */
export const sshdRule = { level: 10, description: 'sshd: brute force trying to get access to the system.', id: '5712', groups: ['syslog', 'sshd', 'authentication_failures'] };

/**
 * A 4.x alert of rule 5712 for `srcip`, as analysisd writes it. `data` adds fields beside srcip (a dstuser,
 * say); `extra` adds top-level members (manager: what every alert analysisd builds carries).
 */
export const alertFrom = (srcip: unknown, data: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  timestamp: '2026-11-26T10:20:30.000+0000',
  rule: sshdRule,
  agent: { id: '001', name: 'web01' },
  ...extra,
  data: { srcip, ...data },
});

/** What Wazuh's API sends with a `!command` (PUT /active-response): its caller's data, no rule, no manager. */
export const apiAlert = (srcip: unknown) => ({ data: { srcip } });

/** A finding as 5.x's manager sends it (shared/wazuh5-execd/demo-transcript.txt), before execd adds its command. */
export const finding5 = (ip: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  '@timestamp': '2026-12-06T03:50:38.149Z',
  event: { kind: 'alert', category: ['authentication'], outcome: 'failure', original: `Failed password for root from ${String(ip)} port 50022 ssh2` },
  wazuh: {
    agent: { id: '001', name: 'agent01', version: 'v5.0.0' },
    rule: { id: 'd5cc0e71-bcbb-4adc-98de-caed210cebf2', title: 'Failed authentication attempt', level: 'low' },
    integration: { name: 'linux', category: 'system-activity' },
    cluster: { node: 'node01', name: 'wazuh' },
  },
  source: { ip, port: 50022 },
  user: { name: 'root' },
  ...extra,
});

export type Dialect = '4.x' | '5.x';

/** What an alert is about: the attacker's address, an account, a file. */
export interface Subject {
  ip?: string;
  user?: string;
  file?: string;
}

/** The same event as each dialect's manager writes it: a 4.x alert (data.srcip, data.dstuser, syscheck.path), or a 5.x finding (source.ip, user.name, file.path). */
export function alertIn(dialect: Dialect, subject: Subject): Record<string, unknown> {
  if (dialect === '4.x') {
    return {
      timestamp: '2026-12-06T03:50:38.149+0000',
      rule: { level: 10, description: 'Palisade test: something to respond to', id: '100100' },
      agent: { id: '001', name: 'agent01' },
      data: { ...(subject.ip ? { srcip: subject.ip } : {}), ...(subject.user ? { dstuser: subject.user } : {}) },
      ...(subject.file ? { syscheck: { path: subject.file, event: 'added' } } : {}),
    };
  }
  return finding5(subject.ip, {
    wazuh: {
      agent: { id: '001', name: 'agent01', version: 'v5.0.0' },
      rule: { id: 'b2f6a1c0-0d3e-4f57-9d1c-7e2a0c4e5f61', title: 'Palisade test: something to respond to', level: 'high' },
    },
    source: subject.ip ? { ip: subject.ip, port: 50022 } : undefined,
    user: subject.user ? { name: subject.user } : undefined,
    ...(subject.file ? { file: { path: subject.file } } : {}),
  });
}
