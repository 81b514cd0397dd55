/**
 * Issue 17: every command, in each dialect, through the execd harness, asserting what it really did: the
 * attacker's connection in a netns lab, the remote firewall's rules, hosts.deny, /etc/shadow, the file, the chat
 * message. The same event is written as a 4.x alert and as a 5.x finding (test/harness/alerts.ts), and each
 * command must get the same target from either.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddRun } from '../src/cli/execd-simulator.js';
import { Execd } from './harness/execd.js';
import { alertIn, type Dialect, type Subject } from './harness/alerts.js';
import { createInstall, type Install } from './harness/install.js';
import { startFirewallServer, type FirewallServer } from './fixtures/http-firewall/server.js';
import { webhookPath, type Delivery } from './fixtures/http-firewall/webhook.js';
import { labAndInstall } from './harness/verbs.js';

/** An alert fires in `dialect`: a stateful one with execd's timer, or a stateless one (notify). */
function fire(execd: Execd, dialect: Dialect, command: string, subject: Subject, options: { stateless?: boolean } = {}): Promise<AddRun> {
  const alert = alertIn(dialect, subject);
  if (dialect === '4.x') return execd.add(command, alert, { timeout: options.stateless ? 0 : 600 });
  return execd.enable(command, alert, options.stateless ? { type: 'stateless' } : { statefulTimeout: 600 });
}

describe.each<Dialect>(['4.x', '5.x'])('in the %s dialect', (dialect) => {
  const undo = dialect === '4.x' ? 'delete' : 'disable';

  describe('the commands that block an address, on real kernels', () => {
    const fx = labAndInstall('backend: nftables\n');

    it.each(['palisade-drop', 'palisade-nftables-drop', 'palisade-ipset-drop', 'palisade-iptables-drop', 'palisade-route-null'])(
      `%s cuts the attacker off, and the ${undo} lets it back`,
      async (command) => {
        const [attacker, neighbour] = fx.lab.attacker4;
        const run = await fire(fx.execd, dialect, command, { ip: attacker });
        expect(run.keys).toEqual([attacker]);
        expect(run.exitCode).toBe(0);
        expect(await fx.lab.canConnect(attacker, 500)).toBe(false);
        expect(await fx.lab.canConnect(neighbour)).toBe(true);
        expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'blocked', address: attacker, field: dialect === '4.x' ? 'data.srcip' : 'source.ip' });
        expect((await fx.execd.expire(run.rkey)).exitCode).toBe(0);
        expect(await fx.lab.canConnect(attacker)).toBe(true);
      },
    );
  });

  describe('the commands off the kernel', () => {
    const token = `tok${randomBytes(8).toString('hex')}`;
    let install: Install;
    let execd: Execd;
    let firewall: FirewallServer;
    let webhook: FirewallServer;
    let denyFile: string;
    let watched: string;
    const made: string[] = [];

    beforeAll(async () => {
      install = createInstall();
      firewall = await startFirewallServer('generic', { token });
      webhook = await startFirewallServer('webhook', { token, webhook: 'slack' });
      const etc = join(install.root, 'etc');
      writeFileSync(join(etc, 'firewall.token'), `${token}\n`, { mode: 0o600 });
      writeFileSync(join(etc, 'notify.url'), `${webhook.url}${webhookPath('slack', token)}\n`, { mode: 0o600 });
      denyFile = join(etc, 'hosts.deny');
      writeFileSync(denyFile, 'sshd: 10.9.8.7\n');
      watched = join(install.root, '..', '..', 'srv');
      mkdirSync(watched, { recursive: true });
      install.writeConfig(
        [
          `http:\n  preset: generic\n  url: ${firewall.url}\n  ca_file: ${firewall.caFile}\n  token_file: ${join(etc, 'firewall.token')}`,
          `notify:\n  format: slack\n  url_file: ${join(etc, 'notify.url')}\n  ca_file: ${webhook.caFile}`,
          `host_deny:\n  path: ${denyFile}`,
          `quarantine:\n  roots: [${watched}]`,
          '',
        ].join('\n'),
      );
      execd = new Execd(install);
    });
    afterAll(async () => {
      for (const name of made) await execa('userdel', [name], { reject: false });
      await firewall?.close();
      await webhook?.close();
      install?.remove();
    });

    it(`palisade-http-drop blocks on the remote firewall, and the ${undo} unblocks`, async () => {
      const run = await fire(execd, dialect, 'palisade-http-drop', { ip: '198.51.100.61' });
      expect(run.exitCode).toBe(0);
      expect((firewall.rules() as Array<{ source: string }>).map((rule) => rule.source)).toEqual(['198.51.100.61']);
      await execd.expire(run.rkey);
      expect(firewall.rules()).toEqual([]);
    });

    it(`palisade-host-deny adds its line to hosts.deny, and the ${undo} removes it`, async () => {
      const run = await fire(execd, dialect, 'palisade-host-deny', { ip: '198.51.100.62' });
      expect(run.exitCode).toBe(0);
      expect(readFileSync(denyFile, 'utf8')).toMatch(/^sshd: 10\.9\.8\.7\nALL: 198\.51\.100\.62 .*# palisade\n$/);
      await execd.expire(run.rkey);
      expect(readFileSync(denyFile, 'utf8')).toBe('sshd: 10.9.8.7\n');
    });

    it(`palisade-disable-account locks the account the ${dialect === '4.x' ? 'alert' : 'finding'} names, and the ${undo} unlocks it`, async () => {
      const user = `pal${randomBytes(4).toString('hex')}`;
      await execa('useradd', ['-M', '-s', '/bin/sh', user]);
      made.push(user);
      await execa('chpasswd', { input: `${user}:correct horse battery staple\n` });
      const canLogIn = async () => (await execa('su', [user, '-c', 'true'], { reject: false })).exitCode === 0;
      expect(await canLogIn()).toBe(true);
      const run = await fire(execd, dialect, 'palisade-disable-account', { user, ip: '198.51.100.63' });
      expect(run.keys).toEqual([user]);
      expect(await canLogIn()).toBe(false);
      await execd.expire(run.rkey);
      expect(await canLogIn()).toBe(true);
    });

    it(`palisade-quarantine moves the file of a file-integrity ${dialect === '4.x' ? 'alert' : 'finding'} away, and the ${undo} puts it back`, async () => {
      const path = join(watched, `upload-${dialect}.php`);
      writeFileSync(path, '<?php system($_GET["c"]);\n', { mode: 0o640 });
      const run = await fire(execd, dialect, 'palisade-quarantine', { file: path });
      expect(run.keys).toEqual([path]);
      expect(existsSync(path)).toBe(false);
      expect(install.logRecords().at(-1)).toMatchObject({ event: 'quarantined', result: 'moved', path, field: dialect === '4.x' ? 'syscheck.path' : 'file.path' });
      await execd.expire(run.rkey);
      expect(readFileSync(path, 'utf8')).toBe('<?php system($_GET["c"]);\n');
    });

    it('palisade-notify posts the rule, the agent and the address to the chat, and never writes to stdout', async () => {
      const before = webhook.rules().length;
      const run = await fire(execd, dialect, 'palisade-notify', { ip: '198.51.100.64' }, { stateless: true });
      expect(run.exitCode).toBe(0);
      expect(run.keysLine).toBeUndefined();
      const delivered = webhook.rules().slice(before) as Delivery[];
      expect(delivered).toHaveLength(1);
      const attachment = (delivered[0]!.body as { attachments: Array<Record<string, unknown>> }).attachments[0]!;
      expect(attachment).toMatchObject({ title: 'Palisade test: something to respond to', color: 'danger' });
      const ruleId = dialect === '4.x' ? '100100 (level 10)' : 'b2f6a1c0-0d3e-4f57-9d1c-7e2a0c4e5f61 (level high)';
      expect(attachment.fields).toEqual([
        { title: 'Agent', value: '(001) agent01', short: true },
        { title: 'Rule', value: ruleId, short: true },
        { title: 'Source address', value: '198.51.100.64', short: true },
      ]);
    });
  });
});
