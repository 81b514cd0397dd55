/**
 * The .deb and the .rpm, installed for real into throwaway roots by dpkg --root and rpm --root (their
 * maintainer scripts run chrooted there), and the installed binary run from its installed path through
 * the execd stand-in with no node on PATH. Upgrades and removals run inside a namespace lab holding live
 * blocks of every kind Palisade makes, so "an upgrade keeps them, a removal takes them out" is a packet test.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandNames } from '../src/commands/index.js';
import { configSchema, defaultConfig, parseConfig } from '../src/runtime/config.js';
import { parseCommandOptions } from '../src/runtime/options.js';
import { repoRoot, testRoot } from './harness/bundle.js';
import { Execd } from './harness/execd.js';
import { distBinary, openInstall, wazuhLogLine, type Install } from './harness/install.js';
import { createLab, type Lab } from './harness/netns.js';
import { createPackageRoot, firewallTools, type PackageRoot, type RunResult } from './harness/package-root.js';

const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
const debFile = join(repoRoot, `dist/palisade_${version}_amd64.deb`);
const rpmFile = join(repoRoot, `dist/palisade-${version}-1.x86_64.rpm`);
const rulesXml = readFileSync(join(repoRoot, 'packaging/wazuh/palisade_rules.xml'), 'utf8');
const ossecConfXml = readFileSync(join(repoRoot, 'packaging/wazuh/ossec.conf.xml'), 'utf8');
const binDir = '/var/ossec/active-response/bin';
const alert = (srcip: string) => ({ rule: { id: '5763', level: 10 }, data: { srcip } });

/** A PATH on which no node can be found: the binary must carry its own runtime. */
const noNodePath = join(testRoot, 'path-without-node');

beforeAll(async () => {
  // -o: never let a test reinstall node_modules; `make test` has set them up.
  const made = await execa('make', ['-o', 'node_modules/.installed', 'package'], { cwd: repoRoot, reject: false, timeout: 600_000, all: true });
  if (made.exitCode !== 0) throw new Error(`make package failed: build the packages with 'make package' first\n${made.all}`);
  mkdirSync(noNodePath, { recursive: true });
}, 600_000);

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The rule whose <field name="event"> matches this event exactly: id, level and its regex. */
function rulesFor(event: string): Array<{ id: number; level: number }> {
  const rules = [...rulesXml.matchAll(/<rule id="(\d+)" level="(\d+)">([\s\S]*?)<\/rule>/g)];
  return rules
    .filter(([, , , body]) => {
      const field = /<field name="event">\^?([^<$]+)\$?<\/field>/.exec(body!)?.[1];
      return field === event;
    })
    .map(([, id, level]) => ({ id: Number(id), level: Number(level) }));
}

function expectInstalledLayout(pkg: PackageRoot) {
  const binary = pkg.at(`${binDir}/palisade`);
  const binaryStat = statSync(binary);
  // Byte for byte the built binary: nothing stripped or rewritten it on the way (that would leave bare Bun).
  expect(sha256(binary)).toBe(sha256(distBinary));
  expect(binaryStat.nlink).toBe(1 + commandNames.length);
  for (const name of ['palisade', ...commandNames]) {
    const stat = statSync(pkg.at(`${binDir}/${name}`));
    expect({ name, ino: stat.ino, uid: stat.uid, gid: stat.gid, mode: stat.mode & 0o7777 }).toEqual({
      name,
      ino: binaryStat.ino,
      uid: 0,
      gid: pkg.wazuhGid,
      mode: 0o750,
    });
  }
  const config = statSync(pkg.at('/var/ossec/etc/palisade.yml'));
  expect({ uid: config.uid, gid: config.gid, mode: config.mode & 0o7777 }).toEqual({ uid: 0, gid: pkg.wazuhGid, mode: 0o640 });
  const stateDir = statSync(pkg.at('/var/ossec/var/palisade'));
  expect({ dir: stateDir.isDirectory(), uid: stateDir.uid, gid: stateDir.gid, mode: stateDir.mode & 0o7777 }).toEqual({
    dir: true,
    uid: 0,
    gid: pkg.wazuhGid,
    mode: 0o750,
  });
  // The operator CLI: a relative symlink, so it resolves inside the root as on the host.
  expect(lstatSync(pkg.at('/usr/sbin/palisade')).isSymbolicLink()).toBe(true);
  expect(readlinkSync(pkg.at('/usr/sbin/palisade'))).toBe('../../var/ossec/active-response/bin/palisade');
  expect(realpathSync(pkg.at('/usr/sbin/palisade'))).toBe(realpathSync(binary));
  expect(readFileSync(pkg.at('/usr/share/palisade/wazuh/palisade_rules.xml'), 'utf8')).toBe(rulesXml);
  expect(readFileSync(pkg.at('/usr/share/palisade/wazuh/ossec.conf.xml'), 'utf8')).toBe(ossecConfXml);
  // The units that put blocks back after a reboot or a firewall reload.
  for (const unit of ['palisade-reconcile.service', 'palisade-recheck.service', 'palisade-recheck.timer']) {
    expect(readFileSync(pkg.at(`/usr/lib/systemd/system/${unit}`), 'utf8')).toBe(readFileSync(join(repoRoot, 'packaging/systemd', unit), 'utf8'));
  }
}

/**
 * Runs the installed palisade-drop through the execd stand-in from its installed path, with a PATH that
 * has no node: an add (check_keys, continue), the same add again (abort: refreshed), an allow-listed
 * address, a refused option, and the delete. Every line is in Wazuh's format and every record has a rule.
 */
async function expectInstalledBinaryWorks(install: Install) {
  const execd = new Execd(install, { env: { PATH: noNodePath } });
  const first = await execd.add('palisade-drop', alert('203.0.113.7'));
  expect(first).toMatchObject({ decision: 'continue', exitCode: 0, keys: ['203.0.113.7'] });
  const again = await execd.add('palisade-drop', alert('203.0.113.7'));
  expect(again).toMatchObject({ decision: 'abort', exitCode: 0 });
  expect(await execd.add('palisade-drop', alert('127.0.0.1'))).toMatchObject({ exitCode: 0 });
  expect(await execd.add('palisade-drop', alert('203.0.113.8'), { extraArgs: ['--no-such-option'] })).toMatchObject({ exitCode: 1 });
  expect(await execd.expire(first.rkey)).toMatchObject({ exitCode: 0 });

  const lines = install.logLines().filter((line) => line !== '');
  expect(lines.length).toBeGreaterThan(10);
  for (const line of lines) {
    expect(line).toMatch(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d active-response\/bin\/palisade-drop: /);
    expect(line).toMatch(wazuhLogLine);
  }
  const events = install.logRecords().map((record) => record.event);
  expect(events).toEqual(expect.arrayContaining(['blocked', 'refreshed', 'skipped-allowlisted', 'error', 'unblocked']));
  for (const event of ['blocked', 'refreshed', 'skipped-allowlisted', 'error', 'unblocked']) {
    expect(rulesFor(event), `a rule for event ${event}`).toHaveLength(1);
  }
}

/**
 * Live blocks of every kind Palisade's backends make, under their default names, in the lab's protected
 * namespace: the nftables table, an iptables PALISADE chain jumped to from INPUT, and an ipset matched
 * from INPUT. One attacker address each.
 */
async function addLiveBlocks(lab: Lab) {
  const [nftAttacker, chainAttacker, setAttacker] = lab.attacker4;
  const inNs = (argv: string[]) => lab.run(lab.protectedNs, argv);
  await inNs(['nft', 'add table inet palisade']);
  await inNs(['nft', 'add set inet palisade blocked4 { type ipv4_addr; flags timeout; }']);
  await inNs(['nft', 'add chain inet palisade input { type filter hook input priority -10; }']);
  await inNs(['nft', 'add rule inet palisade input ip saddr @blocked4 drop']);
  await inNs(['nft', `add element inet palisade blocked4 { ${nftAttacker} timeout 1h }`]);
  await inNs(['iptables', '-N', 'PALISADE']);
  await inNs(['iptables', '-A', 'PALISADE', '-s', chainAttacker, '-j', 'DROP']);
  await inNs(['iptables', '-I', 'INPUT', '-j', 'PALISADE']);
  await inNs(['ipset', 'create', 'palisade-v4', 'hash:ip', 'timeout', '3600']);
  await inNs(['ipset', 'add', 'palisade-v4', setAttacker]);
  await inNs(['iptables', '-I', 'INPUT', '-m', 'set', '--match-set', 'palisade-v4', 'src', '-j', 'DROP']);
  return [nftAttacker, chainAttacker, setAttacker];
}

async function reachable(lab: Lab, addresses: readonly string[]): Promise<boolean[]> {
  const results: boolean[] = [];
  for (const address of addresses) results.push(await lab.canConnect(address, 700));
  return results;
}

async function firewallLeftovers(lab: Lab): Promise<string[]> {
  const nft = await lab.run(lab.protectedNs, ['nft', 'list', 'tables']);
  const iptables = await lab.run(lab.protectedNs, ['iptables-save']);
  const sets = await lab.run(lab.protectedNs, ['ipset', 'list', '-n']);
  return [...nft.split('\n'), ...iptables.split('\n'), ...sets.split('\n')].filter((line) => /palisade/i.test(line));
}

/** What differs between the two formats; everything else is the same test. */
interface PackageFormat {
  name: string;
  install(pkg: PackageRoot): Promise<RunResult>;
  /** The same package again over itself: an upgrade as far as the maintainer scripts can tell. */
  upgrade(pkg: PackageRoot, prefix: string[]): Promise<RunResult>;
  remove(pkg: PackageRoot, prefix: string[]): Promise<RunResult>;
  /** The package manager's own list of the package's configuration files. */
  configFiles(pkg: PackageRoot): Promise<string[]>;
  /** After removal, the edited config is kept (dpkg -r) or saved (rpm -e); then it is dealt with. */
  afterRemoval(pkg: PackageRoot, prefix: string[]): Promise<void>;
}

const editedConfig = /\nbackend: dry-run\n$/;

const formats: PackageFormat[] = [
  {
    name: '.deb',
    install: (pkg) => pkg.dpkg(['-i', debFile]),
    upgrade: (pkg, prefix) => pkg.dpkg(['-i', debFile], prefix),
    remove: (pkg, prefix) => pkg.dpkg(['-r', 'palisade'], prefix),
    configFiles: async (pkg) => (await pkg.dpkg(['--status', 'palisade'])).stdout.match(/^ (\/\S+) [0-9a-f]{32}$/gm)?.map((line) => line.trim().split(' ')[0]!) ?? [],
    async afterRemoval(pkg, prefix) {
      // dpkg -r keeps a conffile; purge takes it.
      expect(readFileSync(pkg.at('/var/ossec/etc/palisade.yml'), 'utf8')).toMatch(editedConfig);
      const purged = await pkg.dpkg(['-P', 'palisade'], prefix);
      expect(purged.exitCode, purged.stderr).toBe(0);
      expect(existsSync(pkg.at('/var/ossec/etc/palisade.yml'))).toBe(false);
    },
  },
  {
    name: '.rpm',
    install: (pkg) => pkg.rpm(['-i', '--nodeps', rpmFile]),
    upgrade: (pkg, prefix) => pkg.rpm(['-U', '--nodeps', '--replacepkgs', rpmFile], prefix),
    remove: (pkg, prefix) => pkg.rpm(['-e', '--nodeps', 'palisade'], prefix),
    configFiles: async (pkg) => (await pkg.rpm(['-q', '--configfiles', 'palisade'])).stdout.split('\n').filter(Boolean),
    async afterRemoval(pkg) {
      // An edited %config(noreplace) file is saved, not lost.
      expect(readFileSync(pkg.at('/var/ossec/etc/palisade.yml.rpmsave'), 'utf8')).toMatch(editedConfig);
    },
  },
];

describe.each(formats)('the $name', (format) => {
  let pkg: PackageRoot;
  let lab: Lab;
  let inLab: string[];
  beforeAll(async () => {
    pkg = createPackageRoot({ tools: firewallTools });
    lab = await createLab();
    inLab = lab.inNs(lab.protectedNs, []);
  });
  afterAll(async () => {
    await lab?.destroy();
    pkg?.remove();
  });

  it('installs the binary and a hard link per AR command, root:wazuh 0750, with its config and state dir', async () => {
    const installed = await format.install(pkg);
    expect(installed.exitCode, installed.stderr).toBe(0);
    expectInstalledLayout(pkg);
    expect(await format.configFiles(pkg)).toEqual(['/var/ossec/etc/palisade.yml']);
  });

  it('runs from its installed path, with no node on PATH, and writes lines the Wazuh rules match', async () => {
    appendFileSync(pkg.at('/var/ossec/etc/palisade.yml'), '\nbackend: dry-run\n');
    await expectInstalledBinaryWorks(openInstall(pkg.ossec));
  });

  it('runs in a root that has no Node.js at all', async () => {
    pkg.addLibrariesOf(distBinary);
    // Like every real root, this one has /proc: Bun finds the code it carries through /proc/self/exe. The
    // mount lives in a mount namespace of the run's own, gone when it exits.
    mkdirSync(pkg.at('/proc'), { recursive: true });
    const ran = await execa('unshare', [`--mount-proc=${pkg.at('/proc')}`, 'chroot', pkg.root, '/usr/sbin/palisade', '--version'], { reject: false, env: { PATH: '/usr/sbin:/usr/bin' }, extendEnv: false });
    expect({ exitCode: ran.exitCode, stdout: ran.stdout, stderr: ran.stderr }).toEqual({ exitCode: 0, stdout: `palisade ${version}`, stderr: '' });
  });

  it('keeps the edited config and every live block across an upgrade', async () => {
    const blocked = await addLiveBlocks(lab);
    expect(await reachable(lab, blocked)).toEqual([false, false, false]);
    const upgraded = await format.upgrade(pkg, inLab);
    expect(upgraded.exitCode, upgraded.stderr).toBe(0);
    expect(readFileSync(pkg.at('/var/ossec/etc/palisade.yml'), 'utf8')).toMatch(editedConfig);
    expect(await reachable(lab, blocked)).toEqual([false, false, false]);
    expectInstalledLayout(pkg);
  });

  it('takes every table, chain, rule and set of ours out of the kernel on removal, and the state with them', async () => {
    const removed = await format.remove(pkg, inLab);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(await reachable(lab, lab.attacker4)).toEqual([true, true, true]);
    expect(await firewallLeftovers(lab)).toEqual([]);
    expect(existsSync(pkg.at(`${binDir}/palisade`))).toBe(false);
    expect(existsSync(pkg.at('/var/ossec/var/palisade'))).toBe(false);
    await format.afterRemoval(pkg, inLab);
  });
});

describe('on a host without the wazuh group', () => {
  let pkg: PackageRoot;
  beforeAll(() => {
    pkg = createPackageRoot({ wazuhGroup: false });
  });
  afterAll(() => pkg?.remove());

  it('the .deb refuses to install, saying to install wazuh-agent first, and leaves nothing behind', async () => {
    const refused = await pkg.dpkg(['-i', debFile]);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain("palisade: the 'wazuh' group does not exist on this host.");
    expect(refused.stderr).toContain('install wazuh-agent (or wazuh-manager) first');
    expect(existsSync(pkg.at(`${binDir}/palisade`))).toBe(false);
  });

  it('the .rpm refuses the same way', async () => {
    const refused = await pkg.rpm(['-i', '--nodeps', rpmFile]);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain("palisade: the 'wazuh' group does not exist on this host.");
    expect(existsSync(pkg.at(`${binDir}/palisade`))).toBe(false);
  });
});

describe('what the packages ship for Wazuh and the operator', () => {
  it('has one rule per Palisade event, in the custom id range, under the stock AR JSON group', () => {
    const ids = [...rulesXml.matchAll(/<rule id="(\d+)"/g)].map((match) => Number(match[1]));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toBeGreaterThanOrEqual(100000);
    for (const event of ['blocked', 'unblocked', 'refreshed', 'skipped-allowlisted', 'error']) {
      expect(rulesFor(event), event).toHaveLength(1);
    }
    // The parent hangs off stock rule 650 (decoded_as ar_log_json) and only takes Palisade's lines.
    expect(rulesXml).toMatch(/<rule id="100600" level="0">\s*<if_sid>650<\/if_sid>\s*<match>active-response\/bin\/palisade<\/match>/);
  });

  it('has a <command> and an <active-response> for every AR command, and every extra_args example parses', () => {
    const commandBlocks = [...ossecConfXml.matchAll(/<command>\s*<name>([^<]+)<\/name>\s*<executable>([^<]+)<\/executable>/g)];
    expect(commandBlocks.map(([, name]) => name)).toEqual(commandNames);
    for (const [, name, executable] of commandBlocks) expect(executable).toBe(name);
    const responses = [...ossecConfXml.matchAll(/<active-response>([\s\S]*?)<\/active-response>/g)].map(([, body]) => body!);
    const used = responses.map((body) => /<command>([^<]+)<\/command>/.exec(body)?.[1]);
    for (const name of commandNames) expect(used).toContain(name);
    const extraArgs = responses.flatMap((body) => [...body.matchAll(/<extra_args>([^<]*)<\/extra_args>/g)].map(([, args]) => args!));
    expect(extraArgs.length).toBeGreaterThan(0);
    for (const args of extraArgs) expect(() => parseCommandOptions(args.split(' ')), args).not.toThrow();
  });

  it('binds palisade-unblock and palisade-block to no rule: only the API and the dashboard may send them', () => {
    const responses = [...ossecConfXml.matchAll(/<active-response>([\s\S]*?)<\/active-response>/g)].map(([, body]) => body!);
    for (const name of ['palisade-unblock', 'palisade-block']) {
      const bound = responses.filter((body) => body.includes(`<command>${name}</command>`));
      expect(bound.length, name).toBeGreaterThan(0);
      // analysisd/rules.c binds an <active-response> to a rule only through rules_id, level or rules_group.
      for (const body of bound) expect(body, name).not.toMatch(/<(rules_id|level|rules_group)>/);
    }
    expect(rulesFor('still-covered')).toHaveLength(1);
  });

  it('ships an etc/palisade.yml that is all defaults and names every setting', async () => {
    const text = readFileSync(join(repoRoot, 'packaging/palisade.yml'), 'utf8');
    expect(await parseConfig(parseYaml(text) ?? {}, 'packaging/palisade.yml')).toEqual(defaultConfig());
    for (const key of Object.keys(configSchema().shape)) expect(text, key).toMatch(new RegExp(`^#${key}:`, 'm'));
  });
});
