/**
 * `palisade simulate`: an alert through palisade-drop exactly as execd runs it, on a real nftables kernel.
 * While it waits for the delete the attacker is really blocked; afterwards it is not, and every protocol
 * step was shown.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Install } from '../harness/install.js';
import type { Lab } from '../harness/netns.js';
import { nftablesLab, palisade, palisadeJson } from '../harness/verbs.js';

const fixture = nftablesLab();
let lab: Lab;
let install: Install;
beforeAll(() => ({ lab, install } = fixture));

async function waitFor(condition: () => boolean, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('palisade simulate', () => {
  it('--ip shows every protocol step, blocks for --timeout seconds, and ends with the block removed', async () => {
    const [attacker, neighbour] = lab.attacker4;
    const running = execa('ip', ['netns', 'exec', lab.protectedNs, install.commandPath('palisade'), 'simulate', '--ip', attacker, '--timeout', '3'], { reject: false, env: { NO_COLOR: '1' } });
    await waitFor(() => install.stateEntries().length === 1, 'the block');
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(neighbour)).toBe(true);
    const run = await running;
    expect(run.exitCode).toBe(0);

    const out = run.stdout;
    const steps = [
      /^1\. execd → palisade-drop \(stdin\): \{"version":1,"origin":\{"name":"node01","module":"wazuh-execd"\},"command":"add",.*"program":"active-response\/bin\/palisade-drop"\}\}$/m,
      new RegExp(`^2\\. palisade-drop → execd \\(check_keys\\): \\{"version":1,"origin":\\{"name":"palisade-drop","module":"active-response"\\},"command":"check_keys","parameters":\\{"keys":\\["${attacker}"\\]\\}\\}$`, 'm'),
      new RegExp(`^ {3}execd: palisade-drop-${attacker} is not in execd's timeout list: continue$`, 'm'),
      /^3\. execd → palisade-drop: \{.*"command":"continue".*\}$/m,
      new RegExp(`^ {4}stderr: palisade-drop: blocked ${attacker} on nftables for 7d at most$`, 'm'),
      /^4\. waiting 3 s \(the <timeout> of the <active-response> block\) \.\.\.$/m,
      /^5\. execd → palisade-drop \(delete; stdin closed after it\): \{.*"command":"delete".*\}$/m,
      new RegExp(`^ {4}stderr: palisade-drop: unblocked ${attacker} on nftables$`, 'm'),
      new RegExp(`^Done: the block of ${attacker} is gone\\.$`, 'm'),
    ];
    let position = 0;
    for (const step of steps) {
      const match = step.exec(out.slice(position));
      expect(match, `${step} after position ${position} in:\n${out}`).not.toBeNull();
      position += match!.index + match![0].length;
    }
    // The command's own log lines, shown as written: the Wazuh format, Starting to Ended, both runs.
    expect(out.match(/^ {4}\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d active-response\/bin\/palisade-drop: Starting$/gm)).toHaveLength(2);
    expect(out).toMatch(/active-response\/bin\/palisade-drop: \{"level":"info","event":"blocked".*"rule":\{"ruleId":"100000","description":"palisade simulate: a test alert"\}\}$/m);

    expect(await lab.canConnect(attacker)).toBe(true);
    expect(install.stateEntries()).toEqual([]);
  });

  it('--alert FILE takes an alert as alerts.json holds it; an allow-listed source is skipped and said so', async () => {
    const spare = lab.attacker4[2];
    const file = join(install.root, 'alert.json');
    writeFileSync(file, `${JSON.stringify({ rule: { id: '5763', description: 'sshd: brute force' }, data: { srcip: spare } })}\n`);
    const report = await palisadeJson<{ ok: boolean; add: { keysLine?: string; exitCode: number; stderr: string; log: string[] }; delete?: unknown }>(install, ['simulate', '--alert', file, '--timeout', '1'], { netns: lab.protectedNs });
    expect(report.exitCode).toBe(0);
    expect(report.add.keysLine).toBeUndefined();
    expect(report.add.stderr).toContain(`skipped: ${spare} is allow-listed: config allowlist`);
    expect(report.add.log.some((line) => line.includes('"event":"skipped-allowlisted"'))).toBe(true);
    expect(report.delete).toBeUndefined();
    expect(await lab.canConnect(spare)).toBe(true);
  });

  it('reports a command that fails: exit 1, with its own words', async () => {
    const run = await palisade(install, ['simulate', '--ip', 'not-an-address', '--timeout', '1'], { netns: lab.protectedNs });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain("2. palisade-drop wrote no check_keys line: execd keeps no timeout entry and will send no delete.");
    expect(run.stdout).toMatch(/palisade-drop exited 255/);
    expect(run.stdout).toContain("Cannot read 'srcip' from data or invalid IP format");
  });
});
