/**
 * `make demo`: one alert through the real protocol, a real address really blocked, then unblocked.
 * Two network namespaces stand in for the protected host and the attacker; nothing outside them changes.
 */
import { execa } from 'execa';
import { Execd } from '../test/harness/execd.js';
import { createInstall } from '../test/harness/install.js';
import { createLab } from '../test/harness/netns.js';

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const step = (text: string) => process.stdout.write(`\n${bold(`== ${text}`)}\n`);
const show = (text: string) => process.stdout.write(`${text.trimEnd()}\n`);

const lab = await createLab();
const install = createInstall({ config: 'backend: nftables\n' });
try {
  const [attacker, neighbour] = lab.attacker4;
  const probe = async () => {
    for (const from of [attacker, neighbour]) show(`   connect from ${from} to ${lab.protected4}:${lab.port}: ${(await lab.canConnect(from, 700)) ? 'connected' : 'BLOCKED'}`);
  };
  step(`A protected host (namespace ${lab.protectedNs}) and an attacker (${lab.attackerNs})`);
  await probe();

  step(`wazuh-execd runs active-response/bin/palisade-drop for an sshd brute-force alert from ${attacker}`);
  const execd = new Execd(install, { netns: lab.protectedNs });
  const alert = {
    timestamp: new Date().toISOString(),
    rule: { level: 10, description: 'sshd: brute force trying to get access to the system. Non existent user.', id: '5712', groups: ['syslog', 'sshd', 'authentication_failures'] },
    agent: { id: '001', name: 'demo-agent' },
    full_log: `Nov 26 10:20:30 demo sshd[4242]: Invalid user admin from ${attacker} port 51234`,
    data: { srcip: attacker, srcuser: 'admin' },
  };
  const run = await execd.add('palisade-drop', alert, { timeout: 600 });
  show(`   palisade-drop asked: ${run.keysLine}`);
  show(`   execd answered: ${run.decision}; exit status ${run.exitCode}`);
  step('active-responses.log (what Wazuh decodes):');
  for (const line of install.logLines()) show(`   ${line.length > 220 ? `${line.slice(0, 217)}...` : line}`);
  step('The kernel now holds:');
  const { stdout } = await execa('ip', ['netns', 'exec', lab.protectedNs, 'nft', 'list', 'set', 'inet', 'palisade', 'addr4']);
  show(stdout.replace(/^/gm, '   '));
  await probe();

  step(`The timeout expires: execd runs the delete`);
  await execd.expire(run.rkey);
  show(`   ${install.logLines().filter((line) => line.includes('"unblocked"')).at(-1) ?? ''}`);
  await probe();
  step('Done: the alert blocked exactly the attacker, and the delete undid exactly that.');
} finally {
  await lab.destroy();
  install.remove();
}
