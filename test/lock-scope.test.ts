/**
 * The state lock is held around the state and the local firewall only, never across an HTTP API call: a
 * slow API must not delay a local nftables block (execd runs responses one at a time, and every other one
 * waits behind a stuck lock). Real parts: nftables in a namespace lab, a slow HTTPS fixture on loopback
 * speaking the generic preset, both driven by the shipped binary on one install and one state dir.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alertFrom } from './harness/alerts.js';
import { Execd } from './harness/execd.js';
import { startFirewallServer, type FirewallServer } from './fixtures/http-firewall/server.js';
import { labWithInstalls } from './harness/verbs.js';

const token = 'tok-lockscope-5d1e9a0c44';
const slowMs = 4000;

let server: FirewallServer;
const fx = labWithInstalls({ afterEach: async () => server?.close() });

async function setUp(): Promise<void> {
  server = await startFirewallServer('generic', { token });
  fx.setUp('backend: nftables\n');
  const tokenFile = join(fx.install.root, 'etc', 'firewall.token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  fx.install.writeConfig(`backend: nftables\nhttp:\n  preset: generic\n  url: ${server.url}\n  ca_file: ${server.caFile}\n  token_file: ${tokenFile}\n`);
}

/** The HTTPS fixture listens on the host's loopback: HTTP commands run outside the lab's namespace. */
const httpExecd = () => new Execd(fx.install);
const held = () => (server.rules() as Array<{ source: string }>).map((rule) => rule.source).sort();

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the state lock and HTTP API calls', () => {
  it('a local nftables block completes promptly while two slow HTTP adds are in flight', async () => {
    await setUp();
    server.inject({ delayMs: slowMs }, { delayMs: slowMs });
    const slowAdds = [httpExecd().add('palisade-http-drop', alertFrom('198.51.100.71')), httpExecd().add('palisade-http-drop', alertFrom('198.51.100.72'))];
    // Both requests reach the API: neither waits for the other's answer.
    await until(() => server.requests().length >= 2, 'both HTTP adds to reach the API');

    const [attacker] = fx.lab.attacker4;
    const started = Date.now();
    const local = await new Execd(fx.install, { netns: fx.lab.protectedNs }).add('palisade-drop', alertFrom(attacker));
    const took = Date.now() - started;
    expect(local.exitCode).toBe(0);
    expect(await fx.lab.canConnect(attacker, 500)).toBe(false);
    // Well under one slow answer: it never waited for the lock behind an API call.
    expect(took).toBeLessThan(slowMs / 2);
    expect(held()).toEqual([]);

    const runs = await Promise.all(slowAdds);
    expect(runs.map((run) => run.exitCode)).toEqual([0, 0]);
    expect(held()).toEqual(['198.51.100.71', '198.51.100.72']);
    expect(fx.install.stateEntries().map((entry) => `${entry.backend} ${entry.address}`).sort()).toEqual([
      `nftables ${attacker}`,
      'http 198.51.100.71',
      'http 198.51.100.72',
    ].sort());
  });

  it('concurrent slow HTTP adds and deletes of one address end with the API and the state agreeing', async () => {
    await setUp();
    const address = '198.51.100.80';
    for (let round = 0; round < 3; round++) {
      server.inject({ delayMs: 600 }, { delayMs: 300 }, { delayMs: 500 }, { delayMs: 200 });
      const runs = await Promise.all([
        httpExecd().add('palisade-http-drop', alertFrom(address)),
        httpExecd().delete('palisade-http-drop', alertFrom(address)),
        httpExecd().add('palisade-http-drop', alertFrom(address)),
        httpExecd().delete('palisade-http-drop', alertFrom(address)),
      ]);
      expect(runs.map((run) => run.exitCode)).toEqual([0, 0, 0, 0]);
      const inState = fx.install.stateEntries().filter((entry) => entry.address === address).length;
      expect(inState).toBeLessThanOrEqual(1);
      // Whatever order they ran in, the API holds the rule exactly when the state says Palisade holds it.
      expect(held()).toEqual(inState === 1 ? [address] : []);
    }
    // And the last word is the last change: a delete lifts it from both, an add puts it in both.
    await httpExecd().delete('palisade-http-drop', alertFrom(address));
    expect(held()).toEqual([]);
    expect(fx.install.stateEntries()).toEqual([]);
    await httpExecd().add('palisade-http-drop', alertFrom(address));
    expect(held()).toEqual([address]);
    expect(fx.install.stateEntries()).toEqual([expect.objectContaining({ backend: 'http', address })]);
  });
});
