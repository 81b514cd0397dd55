/**
 * `palisade doctor` on a good install and on a broken one: every fault named with its fix, exit 1.
 * The broken install gets its own copy of the binary, so that changing its mode leaves dist/palisade (to
 * which every other install is hard-linked) alone; doctor runs from the good binary with --root, as an
 * administrator would when the broken one cannot run at all.
 */
import { chmodSync, chownSync, copyFileSync, linkSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandNames } from '../../src/commands/index.js';
import { repoRoot } from '../harness/bundle.js';
import { createInstall, distBinary, type Install } from '../harness/install.js';
import { createLab, type Lab } from '../harness/netns.js';
import { palisade, palisadeJson } from '../harness/verbs.js';

interface Finding {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
  fix?: string;
}

/** The <command> blocks the manager's ossec.conf holds for these commands, as the README shows them. */
function ossecConf(names: readonly string[]): string {
  const commands = names
    .map((name) => `  <command>\n    <name>${name}</name>\n    <executable>${name}</executable>\n    <timeout_allowed>yes</timeout_allowed>\n  </command>`)
    .join('\n');
  return `<ossec_config>\n${commands}\n  <active-response>\n    <command>palisade-drop</command>\n    <location>local</location>\n    <rules_id>5712</rules_id>\n    <timeout>600</timeout>\n  </active-response>\n</ossec_config>\n`;
}

let lab: Lab;
let good: Install;
let broken: Install;
beforeAll(async () => {
  lab = await createLab();
  good = createInstall({ config: 'backend: nftables\n' });
  good.writeOssecConf(ossecConf(commandNames));
  broken = createInstall({ config: 'backend: nft\nmax_ttl: forever\n' });
  broken.writeOssecConf(ossecConf(commandNames.filter((name) => name !== 'palisade-host-deny')));
  // Its own binary (a copy, not dist/palisade's inode), linked to every command name but one.
  const bin = join(broken.root, 'active-response/bin');
  for (const name of ['palisade', ...commandNames]) unlinkSync(join(bin, name));
  copyFileSync(distBinary, join(bin, 'palisade'));
  for (const name of commandNames.filter((name) => name !== 'palisade-route-null')) linkSync(join(bin, 'palisade'), join(bin, name));
  chmodSync(join(bin, 'palisade'), 0o644);
});
afterAll(async () => {
  await lab?.destroy();
  good?.remove();
  broken?.remove();
});

describe('palisade doctor', () => {
  it('passes a good install: exit 0, nothing failed', async () => {
    const report = await palisadeJson<{ ok: boolean; failed: number; findings: Finding[] }>(good, ['doctor'], { netns: lab.protectedNs });
    expect(report.findings.filter((finding) => finding.status === 'fail')).toEqual([]);
    expect(report.exitCode).toBe(0);
    expect(report.ok).toBe(true);
    const checks = new Set(report.findings.filter((finding) => finding.status === 'ok').map((finding) => finding.check));
    for (const check of ['binary', 'startup', 'links', 'registration', 'log', 'config', 'state', 'backend', 'firewall', 'clock']) expect(checks).toContain(check);
    // The binary runs on the Bun pinned in package-lock.json, whatever runs the tests.
    const { version: bun } = JSON.parse(readFileSync(join(repoRoot, 'node_modules/@oven/bun-linux-x64-baseline/package.json'), 'utf8')) as { version: string };
    expect(report.findings).toContainEqual(expect.objectContaining({ check: 'startup', status: 'ok', message: `runtime Bun ${bun}, code compiled to bytecode at build time` }));
    expect(report.findings).toContainEqual(expect.objectContaining({ check: 'registration', status: 'ok', message: expect.stringContaining('palisade-drop (ossec.conf)') }));
  });

  it('names each fault of a broken install with its fix, and exits 1', async () => {
    const run = await palisade(good, ['doctor', '--root', broken.root], { netns: lab.protectedNs });
    expect(run.exitCode).toBe(1);
    const bin = join(broken.root, 'active-response/bin');
    expect(run.stdout).toMatch(new RegExp(`^FAIL binary +${bin}/palisade is not executable \\(mode 0644\\): execd's exec fails and nothing is ever logged$`, 'm'));
    expect(run.stdout).toContain(`fix: chmod 0750 ${bin}/palisade`);
    expect(run.stdout).toMatch(new RegExp(`^FAIL links +${bin}/palisade-route-null is missing: execd logs "Active response command not present"`, 'm'));
    expect(run.stdout).toContain(`fix: ln -f ${bin}/palisade ${bin}/palisade-route-null`);
    expect(run.stdout).toMatch(/^FAIL config +.*palisade\.yml: backend: must be one of "auto", "nftables", .*; max_ttl: "forever" is not a duration .*every AR command refuses to run until it is fixed$/m);
    expect(run.stdout).toMatch(/^WARN registration +not registered in ossec\.conf or ar\.conf, so never run: palisade-host-deny$/m);
    expect(run.stdout).toMatch(/^\d+ failed, \d+ warning\(s\), \d+ ok \(install dir .*\)$/m);

    const report = await palisadeJson<{ findings: Finding[] }>(good, ['doctor', '--root', broken.root], { netns: lab.protectedNs });
    const failed = report.findings.filter((finding) => finding.status === 'fail');
    // route-null is also registered in ossec.conf: its missing link is a registration fault too.
    expect([...new Set(failed.map((finding) => finding.check))].sort()).toEqual(['binary', 'config', 'links', 'registration']);
    expect(failed).toContainEqual(expect.objectContaining({ check: 'registration', message: expect.stringContaining("<command> palisade-route-null runs palisade-route-null, which is not in") }));
    expect(failed.every((finding) => finding.fix)).toBe(true);
  });

  it('sees an agent whose active responses are disabled and a command that names a missing executable', async () => {
    const install = createInstall({ config: '' });
    try {
      install.writeOssecConf('<ossec_config>\n  <active-response>\n    <disabled>yes</disabled>\n  </active-response>\n</ossec_config>\n');
      mkdirSync(join(install.root, 'etc/shared'), { recursive: true });
      writeFileSync(join(install.root, 'etc/shared/ar.conf'), 'palisade-drop0 - palisade-drop - 0\npalisade-pf600 - palisade-pf-drop - 600\npalisade-unblock0 - palisade-unblock - 0\n');
      const report = await palisadeJson<{ findings: Finding[] }>(install, ['doctor'], { netns: lab.protectedNs });
      expect(report.exitCode).toBe(1);
      expect(report.findings).toContainEqual(expect.objectContaining({ check: 'registration', status: 'fail', message: expect.stringContaining('<disabled>yes</disabled>: execd runs no active response on this host') }));
      expect(report.findings).toContainEqual(expect.objectContaining({ check: 'registration', status: 'fail', message: expect.stringContaining("ar.conf's palisade-pf600 runs palisade-pf-drop, which is not in") }));
      expect(report.findings).toContainEqual(expect.objectContaining({ check: 'registration', status: 'warn', message: expect.stringContaining("ar.conf's palisade-drop0 has timeout 0: execd never sends the delete") }));
      // A stateless command has nothing for a delete to undo, and an API-only one needs no entry at all.
      const registration = report.findings.filter((finding) => finding.check === 'registration').map((finding) => finding.message);
      expect(registration.filter((message) => message.includes('palisade-unblock0 has timeout 0'))).toEqual([]);
      expect(registration.find((message) => message.startsWith('not registered'))).not.toContain('palisade-block');
    } finally {
      install.remove();
    }
  });

  it('fails a palisade.yml or a secret file that is not root\'s alone to change, naming the fix', async () => {
    const install = createInstall();
    try {
      const config = join(install.root, 'etc/palisade.yml');
      const urlFile = join(install.root, 'etc/notify.url');
      writeFileSync(urlFile, 'https://127.0.0.1:9/services/T0/B0/secretpart\n', { mode: 0o600 });
      install.writeConfig(`backend: dry-run\nnotify:\n  format: slack\n  url_file: ${urlFile}\n`);
      const findings = async (check: string) => (await palisadeJson<{ findings: Finding[] }>(install, ['doctor'])).findings.filter((finding) => finding.check === check);
      expect(await findings('config')).toEqual([expect.objectContaining({ status: 'ok' })]);
      expect(await findings('secrets')).toEqual([expect.objectContaining({ status: 'ok', message: expect.stringContaining(urlFile) })]);

      chownSync(config, 1000, 1000);
      expect(await findings('config')).toEqual([
        expect.objectContaining({ status: 'fail', message: expect.stringMatching(/palisade\.yml is owned by uid 1000, not root.*every AR command refuses to run/), fix: `chown root ${config}` }),
      ]);
      chownSync(config, 0, 0);
      chmodSync(config, 0o664);
      expect(await findings('config')).toEqual([expect.objectContaining({ status: 'fail', message: expect.stringContaining('can be written by group or others (mode 0664)'), fix: `chmod go-w ${config}` })]);
      chmodSync(config, 0o640);

      chownSync(urlFile, 1000, 1000);
      expect(await findings('secrets')).toEqual([expect.objectContaining({ status: 'fail', message: expect.stringContaining(`notify.url_file ${urlFile} is owned by uid 1000, not root`), fix: `chown root ${urlFile}` })]);
      chownSync(urlFile, 0, 0);
      chmodSync(urlFile, 0o640);
      expect(await findings('secrets')).toEqual([expect.objectContaining({ status: 'fail', message: expect.stringContaining('is open to group or others (mode 0640)'), fix: `chmod 600 ${urlFile}` })]);
      const run = await palisade(install, ['doctor']);
      expect(run.exitCode).toBe(1);
    } finally {
      install.remove();
    }
  });

  it('sees blocks the firewall lost', async () => {
    expect((await palisade(good, ['block', lab.attacker4[0]], { netns: lab.protectedNs })).exitCode).toBe(0);
    await lab.run(lab.protectedNs, ['nft', 'flush', 'ruleset']);
    const run = await palisade(good, ['doctor'], { netns: lab.protectedNs });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(/^FAIL firewall +table inet palisade is missing, so 1 active block\(s\) are not enforced$/m);
    expect(run.stdout).toContain('fix: run palisade reconcile');
    expect((await palisade(good, ['flush', '--yes'], { netns: lab.protectedNs })).exitCode).toBe(0);
  });

  it('names the unreadable lines of a bulk state file, whose blocks reconcile would remove', async () => {
    const [attacker, neighbour] = lab.attacker4;
    expect((await palisade(good, ['block', '--from', '-'], { netns: lab.protectedNs, input: `${attacker}\n${neighbour}\n` })).exitCode).toBe(0);
    const bulk = join(good.blocksDir, 'nftables.bulk');
    const [first] = readFileSync(bulk, 'utf8').split('\n');
    writeFileSync(bulk, `${first}\n${neighbour}\t{"address":\n`);
    const report = await palisadeJson<{ findings: Finding[] }>(good, ['doctor'], { netns: lab.protectedNs });
    expect(report.findings).toContainEqual({
      check: 'state',
      status: 'warn',
      message: `1 unreadable line(s) in the bulk state (${bulk}:2): the blocks they held are not in the state, so reconcile removes them from the firewall`,
      fix: expect.stringContaining('palisade block ADDRESS'),
    });
    expect((await palisade(good, ['flush', '--yes'], { netns: lab.protectedNs })).exitCode).toBe(0);
    rmSync(bulk, { force: true });
  });

  it('doctor and status count an entry file set aside as unreadable', async () => {
    const [attacker] = lab.attacker4;
    expect((await palisade(good, ['block', attacker], { netns: lab.protectedNs })).exitCode).toBe(0);
    writeFileSync(join(good.blocksDir, `nftables-${attacker}.json`), '{"address":');
    const report = await palisadeJson<{ findings: Finding[] }>(good, ['doctor'], { netns: lab.protectedNs });
    expect(report.findings).toContainEqual(expect.objectContaining({ check: 'state', status: 'warn', message: `1 unreadable state entry set aside in ${good.blocksDir} (*.corrupt)` }));
    const status = await palisadeJson<{ state: { corrupt: number } }>(good, ['status'], { netns: lab.protectedNs });
    expect(status.state.corrupt).toBe(1);
    rmSync(join(good.blocksDir, `nftables-${attacker}.json.corrupt`));
    expect((await palisade(good, ['flush', '--yes'], { netns: lab.protectedNs })).exitCode).toBe(0);
  });
});
