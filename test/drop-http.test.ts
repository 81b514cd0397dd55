/**
 * palisade-http-drop end to end: execd's protocol, the real binary, a real HTTPS server on loopback
 * speaking the generic preset's API (test/fixtures/http-firewall). The backend's own cases, preset by
 * preset, are in test/backends/http.test.ts.
 */
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Execd } from './harness/execd.js';
import { createInstall, type Install } from './harness/install.js';
import { startFirewallServer, type FirewallServer } from './fixtures/http-firewall/server.js';

const token = 'tok-3f9a1c77e2b54d0e9c1a';
let server: FirewallServer;
let install: Install;
let execd: Execd;

const held = () => (server.rules() as Array<{ source: string }>).map((rule) => rule.source).sort();
const alert = (srcip: string) => ({ rule: { id: '31151', description: 'Multiple web server 400 error codes from same source ip.' }, data: { srcip } });
const everything = () => `${readFileSync(install.logFile, 'utf8')}\n${JSON.stringify(install.stateEntries())}`;

beforeEach(async () => {
  server = await startFirewallServer('generic', { token });
  install = createInstall();
  const tokenFile = join(install.root, 'etc', 'firewall.token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  install.writeConfig(`http:\n  preset: generic\n  url: ${server.url}\n  ca_file: ${server.caFile}\n  token_file: ${tokenFile}\n`);
  execd = new Execd(install);
});
afterEach(async () => {
  await server.close();
  install.remove();
});

describe('palisade-http-drop through execd', () => {
  it('blocks on the remote firewall, renews on abort, unblocks on delete, never logging the token', async () => {
    const run = await execd.add('palisade-http-drop', alert('198.51.100.61'));
    expect(run.decision).toBe('continue');
    expect(run.exitCode).toBe(0);
    expect(held()).toEqual(['198.51.100.61']);
    // The rule says why, from the alert, with Palisade's marker and the address.
    expect((server.rules() as Array<{ reason: string }>)[0]!.reason).toMatch(
      /^palisade:\S+: rule 31151: Multiple web server 400 error codes from same source ip\. \[198\.51\.100\.61\]$/,
    );
    expect(install.logRecords().find((record) => record.event === 'blocked')).toMatchObject({ backend: 'http', address: '198.51.100.61' });

    const again = await execd.add('palisade-http-drop', alert('198.51.100.61'));
    expect(again.decision).toBe('abort');
    expect(held()).toEqual(['198.51.100.61']);

    await execd.expire(run.rkey);
    expect(held()).toEqual([]);
    expect(install.stateEntries()).toEqual([]);
    expect(everything()).not.toContain(token);
  });

  it('a wrong token is an error line with the API status, exit 1, and nothing in the state', async () => {
    writeFileSync(join(install.root, 'etc', 'firewall.token'), 'wrong-token-value\n', { mode: 0o600 });
    const run = await execd.add('palisade-http-drop', alert('198.51.100.62'));
    expect(run.exitCode).toBe(1);
    expect(String(install.logRecords().at(-1)!.reason)).toMatch(/401|403/);
    expect(held()).toEqual([]);
    expect(install.stateEntries()).toEqual([]);
    expect(everything()).not.toContain('wrong-token-value');
  });

  it('takes an inline token only from a private config file', async () => {
    install.writeConfig(`http:\n  preset: generic\n  url: ${server.url}\n  ca_file: ${server.caFile}\n  token: ${token}\n`);
    const configFile = join(install.root, 'etc', 'palisade.yml');
    chmodSync(configFile, 0o644);
    const refused = await execd.add('palisade-http-drop', alert('198.51.100.63'));
    expect(refused.exitCode).toBe(1);
    expect(held()).toEqual([]);
    chmodSync(configFile, 0o600);
    const accepted = await execd.add('palisade-http-drop', alert('198.51.100.63'));
    expect(accepted.exitCode).toBe(0);
    expect(held()).toEqual(['198.51.100.63']);
    // The echoed config never reaches the log, and neither does the token.
    expect(everything()).not.toContain(token);
  });

  it('never puts the token on a command line, where any local user could read it in /proc', async () => {
    // A slow API keeps the command at work long enough to look at every process's argv meanwhile.
    server.inject({ delayMs: 1500 });
    const running = execd.add('palisade-http-drop', alert('198.51.100.64'));
    const seen: string[] = [];
    const deadline = Date.now() + 1200;
    while (Date.now() < deadline) {
      for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
        try {
          const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          if (argv.includes(token)) seen.push(argv.replaceAll('\0', ' '));
        } catch {
          // gone meanwhile
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const run = await running;
    expect(run.exitCode).toBe(0);
    expect(held()).toEqual(['198.51.100.64']);
    expect(seen).toEqual([]);
  });
});
