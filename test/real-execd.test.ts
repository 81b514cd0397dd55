/**
 * Palisade under the real wazuh-execd 4.14.7 (shared/wazuh-execd: Wazuh's own execd, built from its sources,
 * and its driver drive.py), in a namespace lab: an alert's palisade-drop with a long timer, the API's
 * `!palisade-unblock` lifting it (and the same from a rule match refused), the alert again (abort: blocked anew)
 * and the ar.conf form `palisade-unblock0` lifting that, then execd's shutdown delete of the
 * original add, which must neither fail nor block again. Skipped, saying why, where that execd is absent;
 * CI has it. PALISADE_WAZUH_EXECD names another copy.
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, testRoot } from './harness/bundle.js';
import { distBinary } from './harness/install.js';
import { createLab, type Lab } from './harness/netns.js';

const driverDir = process.env.PALISADE_WAZUH_EXECD ?? join(repoRoot, '..', 'shared', 'wazuh-execd');
const missing = ['drive.py', 'bin/wazuh-execd'].find((file) => !existsSync(join(driverDir, file)));
const skipReason = missing ? ` (skipped: no real execd, ${join(driverDir, missing)} is missing)` : '';

let lab: Lab | undefined;
// The skip's reason in the run's output, not only in a verbose reporter's test name (hooks of a skipped file never run).
if (missing) console.warn(`real-execd.test.ts${skipReason}`);

beforeAll(async () => {
  if (!missing) lab = await createLab();
});
afterAll(async () => {
  await lab?.destroy();
});

interface Report {
  afterAdd: string[];
  afterRuleUnblock: string[];
  afterUnblock: string[];
  afterRepeat: string[];
  afterNamedUnblock: string[];
  afterStop: string[];
  ossecLog: string;
  arLog: string;
  leftovers: string[];
}

describe('the real wazuh-execd 4.14.7', () => {
  it.skipIf(missing !== undefined)(`runs !palisade-unblock from the API and by its ar.conf name, and the later shutdown delete changes nothing${skipReason}`, async () => {
    // No "/bin" in the path (execd cuts its home there), and the binary's file system: the commands are hard links.
    const home = join(testRoot, `execd-${randomBytes(4).toString('hex')}`, 'ossec');
    expect(home).not.toContain('/bin');
    mkdirSync(home, { recursive: true });
    const [attacker] = lab!.attacker4;
    try {
      const args = JSON.stringify({ driver: driverDir, binary: distBinary, home, netns: lab!.protectedNs, srcip: attacker });
      const run = await execa('python3', [join(repoRoot, 'test/harness/real_execd.py'), args], { timeout: 90_000, reject: false });
      expect(run.exitCode, run.stderr).toBe(0);
      // drive.py narrates on stdout; the report is the last line.
      const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Report;

      expect(report.afterAdd).toEqual([attacker]);
      // From a rule's alert: refused, the block stays.
      expect(report.afterRuleUnblock).toEqual([attacker]);
      // From the API: lifted, with no ar.conf entry and no timer.
      expect(report.afterUnblock).toEqual([]);
      expect(report.ossecLog).toContain("Executing command 'active-response/bin/palisade-unblock {");
      expect(report.ossecLog).not.toMatch(/Adding command 'active-response\/bin\/palisade-unblock/);
      expect(report.ossecLog).not.toContain('Invalid command name');
      // The alert again during execd's timer (abort) blocks anew; the ar.conf form lifts that.
      expect(report.afterRepeat).toEqual([attacker]);
      expect(report.afterNamedUnblock).toEqual([]);
      // SIGTERM ran palisade-drop's pending delete: it found no hold of its own, failed nothing, re-added nothing.
      expect(report.ossecLog).toMatch(/Delete pending AR: 'active-response\/bin\/palisade-drop'/);
      expect(report.afterStop).toEqual([]);
      const records = report.arLog
        .split('\n')
        .map((line) => /^\S+ \S+ active-response\/bin\/(palisade-\w+): (\{"level".*)$/.exec(line))
        .flatMap((match): Array<Record<string, unknown>> => (match ? [{ ...(JSON.parse(match[2]!) as Record<string, unknown>), command: match[1] }] : []))
        // The first block also makes the table: its own record, not part of this story.
        .filter((record) => record.event !== 'firewall-created');
      expect(records.map(({ command, event }) => `${command} ${String(event)}`)).toEqual([
        'palisade-drop blocked',
        'palisade-unblock error',
        'palisade-unblock unblocked',
        'palisade-drop refreshed',
        'palisade-unblock unblocked',
        'palisade-drop unblocked',
      ]);
      expect(records.at(-1)).toMatchObject({ address: attacker, result: 'absent' });
      expect(report.leftovers).toEqual([]);
    } finally {
      rmSync(join(home, '..'), { recursive: true, force: true });
    }
  });
});
