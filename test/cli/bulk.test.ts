/**
 * `palisade block --from` and `unblock --from` on real kernels in a namespace lab: a hostile threat list is
 * applied in one transaction, listed attackers' packets are dropped and everyone else's pass, allow-listed
 * entries are refused by line, and a refused transaction leaves state and kernel as they were.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Execd } from '../harness/execd.js';
import { createInstall, type Install } from '../harness/install.js';
import type { Lab } from '../harness/netns.js';
import { expectSuccess, nftablesLab, palisade, palisadeJson } from '../harness/verbs.js';

const fixture = nftablesLab();
let lab: Lab;
let install: Install;
const dir = mkdtempSync(join(tmpdir(), 'palisade-bulk-'));
beforeAll(() => ({ lab, install } = fixture));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const listFile = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

interface Summary {
  ok: boolean;
  added: number;
  present: number;
  skipped: number;
  refused: number;
  mode: string;
  refusedLines: Array<{ line: number; address: string; reason: string }>;
  skippedLines: Array<{ line: number; address: string; reason: string }>;
}

/** A list as an attacker who controls the download might write it, around the real entries. */
function hostileList(lab: Lab): string {
  const [attacker, neighbour, spare] = lab.attacker4;
  const [attacker6] = lab.attacker6;
  return [
    '; Spamhaus DROP List 2026/12/06 - (c) 2026 The Spamhaus Project SLU', // 1
    `${attacker} ; SBL000001`, // 2
    '198.51.100.0/24', // 3: a FireHOL-style network
    `${attacker6}\r`, // 4: CRLF
    '$(touch /tmp/palisade-pwned)', // 5
    '--flush', // 6
    `${spare}`, // 7: allow-listed in the config
    '0.0.0.0/0', // 8: everything, loopback and this host among it
    '127.0.0.0/8', // 9
    lab.protected4, // 10: this host
    '', // 11
    `${attacker} # again`, // 12: a repeat
    `# ${neighbour} is a neighbour, not listed`, // 13
  ].join('\n');
}

describe('block --from on nftables', () => {
  const cli = (...args: string[]) => palisade(install, args, { netns: lab.protectedNs });
  afterEach(async () => {
    await cli('flush', '--yes');
  });

  it('blocks the listed addresses in one transaction, refuses the hostile and allow-listed lines by number', async () => {
    const [attacker, neighbour, spare] = lab.attacker4;
    const [attacker6, neighbour6] = lab.attacker6;
    const file = listFile('drop.txt', hostileList(lab));
    const summary = await palisadeJson<Summary>(install, ['block', '--from', file, '--for', '2h'], { netns: lab.protectedNs });
    expect(summary).toMatchObject({ ok: true, exitCode: 0, added: 3, present: 0, skipped: 1, refused: 6, mode: 'transaction' });
    expect(summary.refusedLines.map(({ line, reason }) => [line, reason])).toEqual([
      [5, 'more than one field (one address or network per line)'],
      [6, 'looks like an option, not an address'],
      [7, `allow-listed: config allowlist (${spare})`],
      [8, 'allow-listed: unspecified (0.0.0.0/8)'],
      [9, 'allow-listed: loopback (127.0.0.0/8)'],
      [10, expect.stringMatching(/^allow-listed: this host \(pp\w+\) \(192\.0\.2\.1\)$/)],
    ]);
    expect(summary.skippedLines).toEqual([{ line: 12, address: attacker, reason: 'repeats line 2' }]);
    expect(existsSync('/tmp/palisade-pwned')).toBe(false);

    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(attacker6, 500)).toBe(false);
    expect(await lab.canConnect(neighbour)).toBe(true);
    expect(await lab.canConnect(neighbour6)).toBe(true);
    expect(await lab.canConnect(spare)).toBe(true);
    expect(install.stateEntries().map((entry) => [entry.address, (entry.holders as Array<{ by: string }>).map((holder) => holder.by)]).sort()).toEqual(
      [[attacker, ['operator']], [attacker6, ['operator']], ['198.51.100.0/24', ['operator']]].sort(),
    );
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'bulk-blocked', backend: 'nftables', added: 3, refused: 6, mode: 'transaction' });

    // The same list again: every entry is already there.
    const again = await palisadeJson<Summary>(install, ['block', '--from', file], { netns: lab.protectedNs });
    expect(again).toMatchObject({ added: 0, present: 3, skipped: 1, refused: 6 });
  });

  it('reads stdin, prints a summary, and unblock --from lifts every hold, as unblock ADDRESS does', async () => {
    const [attacker, neighbour] = lab.attacker4;
    const list = `# two\n${attacker}\n${neighbour}\n`;
    const run = expectSuccess(await palisade(install, ['block', '--from', '-'], { netns: lab.protectedNs, input: list }));
    expect(run.stdout).toMatch(/^stdin: 2 added, 0 present, 0 skipped, 0 refused on nftables for 7d at most \(until .*\), in one transaction$/m);
    expect(await lab.canConnect(neighbour, 500)).toBe(false);
    // An alert holds the attacker too: the operator lifting the list lets it through all the same.
    const alert = await new Execd(install, { netns: lab.protectedNs }).add('palisade-drop', { rule: { id: '5712' }, data: { srcip: attacker } }, { timeout: 0 });
    expect(alert.exitCode).toBe(0);

    const file = listFile('two.txt', list);
    const unblock = await palisadeJson<{ removed: number; kept: number; absent: number; refused: number; keptLines: Array<{ address: string; reason: string }> }>(
      install,
      ['unblock', '--from', file],
      { netns: lab.protectedNs },
    );
    expect(unblock).toMatchObject({ exitCode: 0, removed: 2, kept: 0, absent: 0, refused: 0 });
    expect(unblock.keptLines).toEqual([]);
    expect(await lab.canConnect(neighbour)).toBe(true);
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(install.stateEntries()).toEqual([]);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'bulk-unblocked', removed: 2, kept: 0 });
    // The alert's own delete, later, finds nothing of its hold and changes nothing.
    expect((await new Execd(install, { netns: lab.protectedNs }).delete('palisade-drop', { rule: { id: '5712' }, data: { srcip: attacker } })).exitCode).toBe(0);
    expect(install.stateEntries()).toEqual([]);
  });

  it("an alert on a listed address adds its hold; the alert's delete leaves the list's block, the operator's unblock lifts it", async () => {
    const [attacker, neighbour] = lab.attacker4;
    const listed = Array.from({ length: 300 }, (_, n) => `198.18.${n >> 8}.${n & 255}`);
    expect(await palisadeJson<Summary>(install, ['block', '--from', listFile('listed.txt', `${[...listed, attacker, neighbour].join('\n')}\n`)], { netns: lab.protectedNs })).toMatchObject({ added: 302 });
    const execd = new Execd(install, { netns: lab.protectedNs });
    const alert = { rule: { id: '5712' }, data: { srcip: attacker } };
    const add = await execd.add('palisade-drop', alert);
    expect(add.exitCode).toBe(0);
    const holders = () => install.stateEntries().find((entry) => entry.address === attacker)?.holders as Array<{ by: string }> | undefined;
    expect(holders()?.map((holder) => holder.by)).toEqual(['operator', 'palisade-drop']);

    expect((await execd.expire(add.rkey)).exitCode).toBe(0);
    expect(holders()?.map((holder) => holder.by)).toEqual(['operator']);
    expect(await lab.canConnect(attacker, 500)).toBe(false);

    expectSuccess(await cli('unblock', attacker));
    expect(holders()).toBeUndefined();
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(await lab.canConnect(neighbour, 500)).toBe(false);
    expect(install.stateEntries()).toHaveLength(301);
    // What reconcile finds in the state is what the kernel holds: the lifted address does not come back.
    const reconcile = await palisadeJson<{ backends: Array<Record<string, unknown>> }>(install, ['reconcile'], { netns: lab.protectedNs });
    expect(reconcile.backends).toEqual([expect.objectContaining({ backend: 'nftables', active: 301, readded: 0, removedUnknown: [] })]);
    expect(await lab.canConnect(attacker)).toBe(true);
  });

  it('a network of the list replaces narrower blocked networks; one inside a wider block is skipped', async () => {
    expectSuccess(await cli('block', '198.51.100.64/26'));
    expectSuccess(await cli('block', '203.0.113.0/24'));
    const file = listFile('nets.txt', '198.51.100.0/24\n203.0.113.128/25\n');
    const summary = await palisadeJson<Summary & { replaced: string[] }>(install, ['block', '--from', file], { netns: lab.protectedNs });
    expect(summary).toMatchObject({ added: 1, skipped: 1, refused: 0, replaced: ['198.51.100.64/26'] });
    expect(summary.skippedLines).toEqual([{ line: 2, address: '203.0.113.128/25', reason: 'already blocked as part of 203.0.113.0/24' }]);
    expect(install.stateEntries().map((entry) => entry.address).sort()).toEqual(['198.51.100.0/24', '203.0.113.0/24']);
    const sets = await lab.run(lab.protectedNs, ['nft', 'list', 'set', 'inet', 'palisade', 'net4']);
    expect(sets).toContain('198.51.100.0/24');
    expect(sets).not.toContain('198.51.100.64/26');
  });

  it('leaves state and kernel as they were when nft refuses the transaction', async () => {
    const [attacker] = lab.attacker4;
    expectSuccess(await cli('block', '198.18.0.1'));
    // Someone else's network in our interval set: nft refuses any overlapping one ("interval overlaps").
    await lab.run(lab.protectedNs, ['nft', 'add', 'element', 'inet', 'palisade', 'net4', '{ 203.0.113.0/25 }']);
    const before = install.stateEntries();
    const run = await cli('block', '--from', listFile('overlap.txt', `${attacker}\n203.0.113.0/24\n198.18.0.1\n`));
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/nothing was blocked, the state is as it was: nft refused .*interval overlaps/);
    expect(install.stateEntries()).toEqual(before);
    expect(await lab.canConnect(attacker)).toBe(true);
  });

  it('refuses a FIFO or a device as FILE at once', async () => {
    const run = await cli('block', '--from', '/dev/zero');
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain('/dev/zero is not a regular file');
    expect(install.stateEntries()).toEqual([]);
  });

  it('after nft flush ruleset or a flushed set, reconcile puts every listed block back', async () => {
    const addresses = Array.from({ length: 500 }, (_, n) => `198.18.${n >> 8}.${n & 255}`);
    const [attacker] = lab.attacker4;
    const summary = await palisadeJson<Summary>(install, ['block', '--from', listFile('many.txt', `${[...addresses, attacker].join('\n')}\n`)], { netns: lab.protectedNs });
    expect(summary).toMatchObject({ added: 501, refused: 0 });
    await lab.run(lab.protectedNs, ['nft', 'flush', 'ruleset']);
    expect(await lab.canConnect(attacker)).toBe(true);
    const reconcile = await palisadeJson<{ ok: boolean; backends: Array<Record<string, unknown>> }>(install, ['reconcile'], { netns: lab.protectedNs });
    expect(reconcile.backends).toEqual([expect.objectContaining({ backend: 'nftables', restored: 501, active: 501 })]);
    expect(await lab.canConnect(attacker, 500)).toBe(false);

    // A set emptied by hand keeps the table: the 501 missing blocks go back in one more transaction.
    await lab.run(lab.protectedNs, ['nft', 'flush', 'set', 'inet', 'palisade', 'addr4']);
    await lab.run(lab.protectedNs, ['nft', 'add', 'element', 'inet', 'palisade', 'addr4', '{ 203.0.113.99 }']);
    expect(await lab.canConnect(attacker)).toBe(true);
    const again = await palisadeJson<{ backends: Array<Record<string, unknown>> }>(install, ['reconcile'], { netns: lab.protectedNs });
    expect(again.backends).toEqual([expect.objectContaining({ backend: 'nftables', recreated: false, readded: 501, removedUnknown: ['203.0.113.99'], active: 501 })]);
    expect(await lab.canConnect(attacker, 500)).toBe(false);
  });
});

describe('block --from on ipset', () => {
  let own: Install;
  beforeAll(() => {
    own = createInstall({ config: `backend: ipset\nallowlist: [${fixture.lab.attacker4[2]}/32]\n` });
  });
  afterAll(async () => {
    await palisade(own, ['flush', '--yes'], { netns: lab.protectedNs });
    own?.remove();
  });

  it('applies the list in one ipset restore, survives ipset destroy through reconcile, and unblock --from undoes it', async () => {
    const [attacker, neighbour, spare] = lab.attacker4;
    const [attacker6, neighbour6] = lab.attacker6;
    const file = listFile('ipset.txt', hostileList(lab));
    const summary = await palisadeJson<Summary>(own, ['block', '--from', file], { netns: lab.protectedNs });
    expect(summary).toMatchObject({ ok: true, added: 3, skipped: 1, refused: 6, mode: 'transaction' });
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(attacker6, 500)).toBe(false);
    expect(await lab.canConnect(neighbour)).toBe(true);
    expect(await lab.canConnect(neighbour6)).toBe(true);
    expect(await lab.canConnect(spare)).toBe(true);
    expect(await lab.run(lab.protectedNs, ['ipset', 'list', 'palisade4net'])).toContain('198.51.100.0/24');

    // A firewall reload as ipset users know it: rules gone, sets destroyed.
    await lab.run(lab.protectedNs, ['iptables', '-w', '-F']);
    await lab.run(lab.protectedNs, ['ip6tables', '-w', '-F']);
    for (const set of ['palisade4', 'palisade6', 'palisade4net', 'palisade6net']) await lab.run(lab.protectedNs, ['ipset', 'destroy', set]);
    expect(await lab.canConnect(attacker)).toBe(true);
    const reconcile = await palisadeJson<{ backends: Array<Record<string, unknown>> }>(own, ['reconcile'], { netns: lab.protectedNs });
    expect(reconcile.backends).toEqual([expect.objectContaining({ backend: 'ipset', recreated: true, restored: 3, active: 3 })]);
    expect(await lab.canConnect(attacker, 500)).toBe(false);

    const unblock = await palisadeJson<{ removed: number; absent: number; refused: number }>(own, ['unblock', '--from', file], { netns: lab.protectedNs });
    expect(unblock).toMatchObject({ removed: 3, absent: 4, refused: 2 });
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(await lab.canConnect(attacker6)).toBe(true);
    expect(own.stateEntries()).toEqual([]);
  });
});

describe('block --from on a firewall without batches', () => {
  let own: Install;
  beforeAll(() => {
    own = createInstall({ config: 'backend: iptables\n' });
  });
  afterAll(async () => {
    await palisade(own, ['flush', '--yes'], { netns: lab.protectedNs });
    own?.remove();
  });

  it('takes one call per entry on iptables, with the same holds, counts and allow-list', async () => {
    const [attacker, neighbour] = lab.attacker4;
    const file = listFile('iptables.txt', `${attacker}\n${lab.protected4}\n`);
    const summary = await palisadeJson<Summary>(own, ['block', '--from', file], { netns: lab.protectedNs });
    expect(summary).toMatchObject({ ok: true, added: 1, present: 0, refused: 1, mode: 'per-entry' });
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(neighbour)).toBe(true);
    expect(await palisadeJson(own, ['block', '--from', file], { netns: lab.protectedNs })).toMatchObject({ added: 0, present: 1, mode: 'per-entry' });
    const unblock = await palisadeJson<{ removed: number; absent: number }>(own, ['unblock', '--from', file], { netns: lab.protectedNs });
    expect(unblock).toMatchObject({ removed: 1, absent: 1 });
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(own.stateEntries()).toEqual([]);
  });
});
