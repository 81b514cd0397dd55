/** Alerts and findings as Wazuh really writes them, for the tests of both dialects. */

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
