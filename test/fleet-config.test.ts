/**
 * The fleet layer (src/runtime/fleet-config.ts): etc/shared/palisade.yml, which wazuh-agentd (not root) writes
 * from the manager's agent group, read on top of etc/palisade.yml when that says fleet_config: true. Through
 * the built binary in throwaway installs; every attack is planted where the wazuh group could plant it.
 */
import { chownSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { palisade, palisadeJson } from './harness/verbs.js';
import { Execd } from './harness/execd.js';
import { createInstall, type Install } from './harness/install.js';

const attacker = '198.51.100.7';
/** What an agent group's shared folder holds after wazuh-agentd wrote it: not root's (uid 1000 stands in for wazuh). */
function writeShared(install: Install, yaml: string): string {
  const dir = join(install.root, 'etc', 'shared');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'palisade.yml');
  writeFileSync(path, yaml, { mode: 0o660 });
  chownSync(path, 1000, 1000);
  return path;
}

const records = (install: Install, event: string) => install.logRecords().filter((record) => record.event === event);
const blockedTtls = (install: Install) => records(install, 'blocked').map((record) => record.ttl);
const fleetWarnings = (install: Install) => records(install, 'fleet-config-refused');

describe('the fleet layer, etc/shared/palisade.yml', () => {
  let install: Install;
  let execd: Execd;
  beforeEach(() => {
    install = createInstall({ config: 'backend: dry-run\nfleet_config: true\n' });
    execd = new Execd(install);
  });
  afterEach(() => install.remove());

  it('adds to the allow-list: an alert for an address it adds is skipped as allow-listed', async () => {
    writeShared(install, `allowlist:\n  - ${attacker}\n  - 2001:db8:42::/48\n`);
    const run = await execd.add('palisade-drop', { data: { srcip: attacker } });
    expect(run.exitCode).toBe(0);
    expect(records(install, 'skipped-allowlisted')).toHaveLength(1);
    expect(records(install, 'blocked')).toEqual([]);
    expect(install.stateEntries()).toEqual([]);
    // Added to the local entries, not in their place.
    install.writeConfig('backend: dry-run\nfleet_config: true\nallowlist: [203.0.113.0/24]\n');
    await execd.add('palisade-drop', { data: { srcip: '203.0.113.9' } });
    await execd.add('palisade-drop', { data: { srcip: attacker } });
    expect(records(install, 'skipped-allowlisted')).toHaveLength(3);
    expect(fleetWarnings(install)).toEqual([]);
  });

  it('sets source_fields and a lower max_ttl; a higher max_ttl is refused by name', async () => {
    writeShared(install, 'source_fields: [data.src_ip]\nmax_ttl: 1h\n');
    await execd.add('palisade-drop', { data: { src_ip: attacker } });
    expect(install.stateEntries().map((entry) => entry.address)).toEqual([attacker]);
    expect(blockedTtls(install)).toEqual([3600]);

    writeShared(install, 'max_ttl: 30d\n');
    await execd.add('palisade-drop', { data: { srcip: '198.51.100.8' } });
    expect(blockedTtls(install)).toEqual([3600, 604_800]);
    expect(fleetWarnings(install)).toEqual([expect.objectContaining({ level: 'warn', refused: ['max_ttl'], message: expect.stringContaining('may only lower max_ttl') })]);
  });

  it('never outweighs the local file: a key both set keeps the local value', async () => {
    install.writeConfig('backend: dry-run\nfleet_config: true\nmax_ttl: 2h\nsource_fields: [data.srcip]\n');
    writeShared(install, 'max_ttl: 1h\nsource_fields: [data.src_ip]\n');
    await execd.add('palisade-drop', { data: { srcip: attacker, src_ip: '198.51.100.9' } });
    expect(install.stateEntries().map((entry) => entry.address)).toEqual([attacker]);
    expect(blockedTtls(install)).toEqual([7200]);
  });

  it('refuses every other key by name (backend, a URL, a secret, a path, the action) and applies the rest', async () => {
    writeShared(
      install,
      [
        'backend: nftables',
        'action: reject',
        'http:\n  preset: generic\n  url: https://evil.example/api',
        'notify:\n  url: https://hooks.slack.com/services/T0/B0/stolen',
        'token: s3cr3t-value-never-logged',
        'quarantine:\n  dir: /tmp/evil',
        'fleet_config: true',
        'max_ttl: 1h',
        `allowlist: [${attacker}]`,
        '',
      ].join('\n'),
    );
    const run = await execd.add('palisade-drop', { data: { srcip: '198.51.100.8' } });
    expect(run.exitCode).toBe(0);
    const [warning] = fleetWarnings(install);
    expect(fleetWarnings(install)).toHaveLength(1);
    expect(warning!.refused).toEqual(['backend', 'action', 'http', 'notify', 'token', 'quarantine', 'fleet_config']);
    expect(String(warning!.message)).toMatch(/"backend", "action", "http", "notify", "token", "quarantine", "fleet_config": not taken from the fleet layer/);
    // Not one value of the file reaches the log.
    expect(install.logLines().join('\n')).not.toMatch(/evil\.example|stolen|s3cr3t|\/tmp\/evil/);
    // The rest applied: dry-run stayed the backend, drop the action, the lower max_ttl and the allow-list held.
    expect(records(install, 'blocked')).toEqual([expect.objectContaining({ backend: 'dry-run', ttl: 3600 })]);
    await execd.add('palisade-drop', { data: { srcip: attacker } });
    expect(records(install, 'skipped-allowlisted')).toHaveLength(1);
  });

  it('refuses a value of the wrong type by its key, whole, and applies the rest', async () => {
    writeShared(install, `allowlist: [${attacker}, 10.0.0.0/33]\nsource_fields: "data.src_ip; rm -rf /"\nmax_ttl: 1h\n`);
    await execd.add('palisade-drop', { data: { srcip: attacker } });
    expect(fleetWarnings(install)).toEqual([expect.objectContaining({ refused: ['allowlist', 'source_fields'] })]);
    expect(String(fleetWarnings(install)[0]!.message)).toContain('allowlist.1 is not');
    // Nothing of a refused key applies: the good entry beside the bad one is not allow-listed.
    expect(records(install, 'blocked')).toEqual([expect.objectContaining({ address: attacker, ttl: 3600 })]);
  });

  it('does not follow a symlink planted at etc/shared/palisade.yml', async () => {
    const elsewhere = join(install.root, 'elsewhere.yml');
    writeFileSync(elsewhere, `allowlist: [${attacker}]\n`);
    mkdirSync(join(install.root, 'etc', 'shared'));
    symlinkSync(elsewhere, join(install.root, 'etc', 'shared', 'palisade.yml'));
    const run = await execd.add('palisade-drop', { data: { srcip: attacker } });
    expect(run.exitCode).toBe(0);
    expect(records(install, 'blocked')).toHaveLength(1);
    expect(fleetWarnings(install)).toEqual([expect.objectContaining({ reason: 'it is a symbolic link, which is never followed' })]);
  });

  it('does not hang on a FIFO planted there', async () => {
    mkdirSync(join(install.root, 'etc', 'shared'));
    await execa('mkfifo', ['-m', '0660', join(install.root, 'etc', 'shared', 'palisade.yml')]);
    const run = await new Execd(install, { hangMs: 10_000 }).add('palisade-drop', { data: { srcip: attacker } });
    expect(run.exitCode).toBe(0);
    expect(records(install, 'blocked')).toHaveLength(1);
    expect(fleetWarnings(install)).toEqual([expect.objectContaining({ reason: 'it is a FIFO, not a regular file' })]);
  });

  it('refuses a file larger than 64 KiB, whole', async () => {
    writeShared(install, `allowlist: [${attacker}]\n${'#'.repeat(70_000)}\n`);
    await execd.add('palisade-drop', { data: { srcip: attacker } });
    expect(records(install, 'blocked')).toHaveLength(1);
    expect(String(fleetWarnings(install)[0]!.reason)).toMatch(/^it is 700\d\d bytes, more than the 65536 read$/);
  });

  it('a file that is not YAML, or holds an alias, is refused with a warning and the response goes on', async () => {
    writeShared(install, 'allowlist: [oops\n');
    const run = await execd.add('palisade-drop', { data: { srcip: attacker } });
    expect(run.exitCode).toBe(0);
    expect(records(install, 'blocked')).toHaveLength(1);
    expect(fleetWarnings(install)).toEqual([expect.objectContaining({ reason: expect.stringMatching(/^it is not valid YAML/) })]);
    expect(String(fleetWarnings(install)[0]!.message)).toContain('etc/palisade.yml and the defaults apply');

    // No alias at all, not even one: a billion laughs takes a few lines, and a group's file needs none.
    writeShared(install, 'entries: &entries [198.51.100.8]\nallowlist: *entries\n');
    const again = await execd.add('palisade-drop', { data: { srcip: '198.51.100.8' } });
    expect(again.exitCode).toBe(0);
    expect(records(install, 'blocked')).toHaveLength(2);
    expect(fleetWarnings(install)[1]).toEqual(expect.objectContaining({ reason: "it holds a YAML alias (*name), and a group's file may hold none" }));
  });

  it('applies a change to the shared file at the next alert, though the config is cached', async () => {
    writeShared(install, 'max_ttl: 1h\n');
    await execd.add('palisade-drop', { data: { srcip: '198.51.100.1' } });
    await execd.add('palisade-drop', { data: { srcip: '198.51.100.2' } });
    writeShared(install, 'max_ttl: 2h\n');
    await execd.add('palisade-drop', { data: { srcip: '198.51.100.3' } });
    writeShared(install, 'max_ttl: [broken\n');
    await execd.add('palisade-drop', { data: { srcip: '198.51.100.4' } });
    // Removed: nothing of it outlives the file.
    writeShared(install, '');
    await execd.add('palisade-drop', { data: { srcip: '198.51.100.5' } });
    expect(blockedTtls(install)).toEqual([3600, 3600, 7200, 604_800, 604_800]);
    expect(fleetWarnings(install)).toHaveLength(1);
  });

  it('is never read without fleet_config: true in the local file', async () => {
    install.writeConfig('backend: dry-run\n');
    writeShared(install, `allowlist: [${attacker}]\nmax_ttl: 1\nsource_fields: [data.decoy]\nbackend: nftables\n`);
    await execd.add('palisade-drop', { data: { srcip: attacker, decoy: '198.51.100.99' } });
    expect(records(install, 'blocked')).toEqual([expect.objectContaining({ address: attacker, ttl: 604_800 })]);
    expect(fleetWarnings(install)).toEqual([]);
    const status = await palisadeJson<{ config: { fleet: unknown; settings: Record<string, unknown> } }>(install, ['status']);
    expect(status.config.fleet).toEqual({ enabled: false });
    expect(status.config.settings.max_ttl).toEqual({ value: 604_800, source: 'default' });
  });

  it('the shared file cannot turn itself on: fleet_config is a local key only', async () => {
    install.writeConfig('backend: dry-run\n');
    writeShared(install, `fleet_config: true\nallowlist: [${attacker}]\n`);
    await execd.add('palisade-drop', { data: { srcip: attacker } });
    expect(records(install, 'blocked')).toHaveLength(1);
  });
});

describe('palisade doctor and status --json on the fleet layer', () => {
  let install: Install;
  beforeEach(() => {
    install = createInstall({ config: 'backend: dry-run\nfleet_config: true\nallowlist: [203.0.113.0/24]\nsource_fields: [data.srcip]\n' });
  });
  afterEach(() => install.remove());

  it('status --json gives the layer of each value', async () => {
    const path = writeShared(install, `allowlist: [${attacker}]\nmax_ttl: 1h\nsource_fields: [data.src_ip]\nbackend: nftables\n`);
    const status = await palisadeJson<{ config: { fleet: Record<string, unknown>; settings: Record<string, unknown> } }>(install, ['status']);
    expect(status.config.fleet).toEqual({
      enabled: true,
      path,
      present: true,
      applied: ['allowlist', 'max_ttl'],
      overridden: ['source_fields'],
      refused: [{ key: 'backend', reason: expect.stringContaining('not taken from the fleet layer') }],
    });
    const { settings } = status.config;
    expect(settings.max_ttl).toEqual({ value: 3600, source: 'fleet' });
    expect(settings.source_fields).toEqual({ value: ['data.srcip'], source: 'local' });
    expect(settings.backend).toEqual({ value: 'dry-run', source: 'local' });
    expect(settings.action).toEqual({ value: 'drop', source: 'default' });
    expect(settings.allowlist).toEqual([
      { value: '203.0.113.0/24', source: 'local' },
      { value: attacker, source: 'fleet' },
    ]);
    // A refused key is a problem worth a look.
    expect(status.exitCode).toBe(1);
    const human = await palisade(install, ['status']);
    expect(human.stdout).toMatch(/^Fleet +\S+\/etc\/shared\/palisade\.yml sets allowlist, max_ttl; refused backend$/m);
  });

  it('doctor says the layer is on, what it set and what it refused', async () => {
    const path = writeShared(install, `allowlist: [${attacker}]\nmax_ttl: 1h\nhttp: {url: "https://evil.example/"}\n`);
    const report = await palisadeJson<{ findings: Array<{ check: string; status: string; message: string; fix?: string }> }>(install, ['doctor']);
    const fleet = report.findings.filter((finding) => finding.check === 'fleet');
    expect(fleet).toEqual([
      {
        check: 'fleet',
        status: 'ok',
        message: `fleet layer on: ${path} sets allowlist, max_ttl; from palisade.yml: backend, source_fields, fleet_config; from the fleet layer: max_ttl; allowlist: 1 entry from palisade.yml, 1 from the fleet layer; the rest: defaults`,
      },
      expect.objectContaining({ status: 'warn', message: expect.stringMatching(new RegExp(`^fleet layer: ${path} refused "http": not taken from the fleet layer`)), fix: expect.stringContaining('/var/ossec/etc/shared/<group>/palisade.yml') }),
    ]);
    const human = await palisade(install, ['doctor']);
    expect(human.stdout).toMatch(/^ok +fleet +fleet layer on: /m);

    install.writeConfig('backend: dry-run\n');
    const off = await palisadeJson<{ findings: Array<{ check: string; message: string }> }>(install, ['doctor']);
    expect(off.findings.filter((finding) => finding.check === 'fleet').map((finding) => finding.message)).toEqual([
      `fleet layer off: ${path} exists but is not read (fleet_config: true in palisade.yml turns it on)`,
    ]);
  });
});

describe('the fleet layer costs an alert', () => {
  let install: Install;
  beforeEach(() => {
    install = createInstall({ config: 'backend: dry-run\n' });
    writeShared(install, `allowlist: [${attacker}]\n`);
  });
  afterEach(() => install.remove());

  /** Every file system call of one add, as strace sees it. */
  async function fileCalls(srcip: string): Promise<string[]> {
    const trace = join(install.root, '..', 'trace');
    const line = JSON.stringify({ version: 1, origin: { name: 'node01', module: 'wazuh-execd' }, command: 'add', parameters: { extra_args: [], alert: { data: { srcip } }, program: 'active-response/bin/palisade-drop' } });
    const run = await execa('strace', ['-f', '-qq', '-e', 'trace=%file,%desc', '-o', trace, install.commandPath('palisade-drop')], { input: `${line}\n`, cwd: install.root, reject: false, timeout: 30_000 });
    expect(run.exitCode).toBe(0);
    const calls = readFileSync(trace, 'utf8').split('\n');
    // The trace is real: the local config is looked at on every alert.
    expect(calls.some((call) => call.includes('etc/palisade.yml'))).toBe(true);
    return calls.filter((call) => call.includes('etc/shared'));
  }

  it('nothing when off: the shared file is never looked at', async () => {
    await fileCalls('198.51.100.1');
    expect(await fileCalls('198.51.100.2')).toEqual([]);
  });

  it('one lstat when on and cached: the shared file is opened only when it changed', async () => {
    install.writeConfig('backend: dry-run\nfleet_config: true\n');
    expect((await fileCalls('198.51.100.1')).some((call) => /\bopen(at)?\(.*etc\/shared\/palisade\.yml/.test(call))).toBe(true);
    const cached = await fileCalls('198.51.100.2');
    expect(cached).toHaveLength(1);
    expect(cached[0]).toMatch(/^\d+ +(lstat|newfstatat|statx)\(.*etc\/shared\/palisade\.yml.*(AT_SYMLINK_NOFOLLOW|lstat)/);
  });
});
