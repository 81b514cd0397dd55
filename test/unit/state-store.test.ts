/**
 * The state's two forms, without root: an address's own file for an alert, the backend's sorted bulk file for
 * a list, and the rule between them (an own file is the whole entry). What is on disk is read by the test
 * harness's own reader, not through the store.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateStore, operatorHold, withHold, type StateEntry } from '../../src/runtime/state.js';
import { readStateFiles } from '../harness/install.js';

const now = 1_800_000_000;

function entry(address: string, expiresAt = now + 3600, by = 'operator'): StateEntry {
  const prefix = address.includes('/') ? Number(address.split('/')[1]) : 32;
  return { address, family: 4, prefix, backend: 'nftables', holders: [{ by, since: now, expiresAt }], since: now, expiresAt };
}

let dir: string;
let corrupt: string[];
let state: StateStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-state-'));
  corrupt = [];
  state = new StateStore(dir, (file, detail) => corrupt.push(`${file}: ${detail}`));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const onDisk = () => readStateFiles(state.blocksDir);
const files = () => readdirSync(state.blocksDir).sort();

describe('state store', () => {
  it('writes a list as one bulk file and finds each of its entries', () => {
    const list = Array.from({ length: 1000 }, (_, n) => entry(`198.18.${n >> 8}.${n & 255}`));
    state.change({ put: list });
    expect(files()).toEqual(['nftables.bulk']);
    expect(state.get({ backend: 'nftables', address: '198.18.3.231' })).toEqual(list[999]);
    expect(state.get({ backend: 'nftables', address: '198.18.4.0' })).toBeUndefined();
    expect(state.get({ backend: 'ipset', address: '198.18.0.1' })).toBeUndefined();
    expect(state.all('nftables')).toHaveLength(1000);
    expect(state.all('ipset')).toEqual([]);
    expect(onDisk()).toHaveLength(1000);
  });

  it("lets an alert's own file take over a listed entry, and lifts it from both when it goes", () => {
    state.change({ put: [entry('192.0.2.1'), entry('192.0.2.2')] });
    const held = withHold(state.get({ backend: 'nftables', address: '192.0.2.1' })!, { by: 'palisade-drop', key: '192.0.2.1' }, now + 7200, now);
    state.put(held);
    expect(state.get({ backend: 'nftables', address: '192.0.2.1' })).toEqual(held);
    expect(state.all().filter((one) => one.address === '192.0.2.1')).toEqual([held]);
    expect(held.holders.map((holder) => holder.by)).toEqual(['operator', 'palisade-drop']);

    expect(state.remove({ backend: 'nftables', address: '192.0.2.1' })).toBe(true);
    expect(state.get({ backend: 'nftables', address: '192.0.2.1' })).toBeUndefined();
    expect(onDisk().map((one) => one.address)).toEqual(['192.0.2.2']);
    expect(files()).toEqual(['nftables.bulk']);
    expect(state.remove({ backend: 'nftables', address: '192.0.2.1' })).toBe(false);
    // Removed from the bulk file alone, with no file of its own.
    expect(state.remove({ backend: 'nftables', address: '192.0.2.2' })).toBe(true);
    expect(state.all()).toEqual([]);
    // The next bulk write drops the blanked lines.
    state.change({ put: [entry('192.0.2.4')] });
    expect(readFileSync(join(state.blocksDir, 'nftables.bulk'), 'utf8').split('\n')).toHaveLength(2);
  });

  it('moves an entry with its own file into the bulk file when a list changes it, leaving one record', () => {
    state.put(entry('192.0.2.9', now + 60, 'palisade-drop'));
    const renewed = withHold(state.get({ backend: 'nftables', address: '192.0.2.9' })!, operatorHold, now + 86400, now);
    state.change({ put: [renewed, entry('192.0.2.10')] });
    expect(files()).toEqual(['nftables.bulk']);
    expect(state.get({ backend: 'nftables', address: '192.0.2.9' })).toEqual(renewed);
    expect(onDisk()).toHaveLength(2);
  });

  it('removes many at once, own files and listed lines, and the bulk file once it is empty', () => {
    state.change({ put: [entry('192.0.2.1'), entry('192.0.2.2')] });
    state.put(entry('192.0.2.3'));
    state.change({ remove: [{ backend: 'nftables', address: '192.0.2.1' }, { backend: 'nftables', address: '192.0.2.3' }] });
    expect(onDisk().map((one) => one.address)).toEqual(['192.0.2.2']);
    state.change({ remove: [{ backend: 'nftables', address: '192.0.2.2' }] });
    expect(files()).toEqual([]);
    expect(state.all()).toEqual([]);
  });

  it('reads many addresses with one read of the bulk file, own files first', () => {
    state.change({ put: [entry('192.0.2.1'), entry('192.0.2.2')] });
    const own = entry('192.0.2.2', now + 99, 'palisade-drop');
    state.put(own);
    const found = state.getMany('nftables', ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    expect([...found.keys()]).toEqual(['192.0.2.1', '192.0.2.2']);
    expect(found.get('192.0.2.2')).toEqual(own);
  });

  it('leaves out and reports a damaged bulk line, and one that names another address', () => {
    state.change({ put: [entry('192.0.2.1')] });
    const path = join(state.blocksDir, 'nftables.bulk');
    writeFileSync(path, `192.0.2.1\t${JSON.stringify(entry('192.0.2.1'))}\n192.0.2.2\tnot json\n192.0.2.3\t${JSON.stringify(entry('203.0.113.66'))}\ngarbage\n`);
    expect(state.all().map((one) => one.address)).toEqual(['192.0.2.1']);
    expect(state.get({ backend: 'nftables', address: '192.0.2.3' })).toBeUndefined();
    expect(corrupt.join('\n')).toMatch(/nftables\.bulk:2: .*JSON/);
    expect(corrupt.join('\n')).toMatch(/nftables\.bulk:3: it names nftables 203\.0\.113\.66/);
    expect(corrupt.join('\n')).toMatch(/nftables\.bulk:4: not an address/);
  });

  it('ignores a bulk file of no backend it knows', () => {
    state.change({ put: [entry('192.0.2.1')] });
    writeFileSync(join(state.blocksDir, 'bogus.bulk'), `192.0.2.5\t${JSON.stringify(entry('192.0.2.5'))}\n`);
    expect(state.all().map((one) => one.address)).toEqual(['192.0.2.1']);
    expect(existsSync(join(state.blocksDir, 'bogus.bulk'))).toBe(true);
  });

  it('says when it last changed, a line blanked in place included', () => {
    expect(state.lastChange()).toBeUndefined();
    state.change({ put: [entry('192.0.2.1'), entry('192.0.2.2')] });
    const past = new Date('2026-01-01T00:00:00Z');
    for (const path of [state.blocksDir, join(state.blocksDir, 'nftables.bulk')]) utimesSync(path, past, past);
    expect(state.lastChange()).toBe(past.getTime() / 1000);
    state.remove({ backend: 'nftables', address: '192.0.2.1' });
    expect(state.lastChange()).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) - 5);
  });

  it("keeps an alert author's text whole in a bulk line: tabs, newlines and line separators in a rule description", () => {
    const hostile = { ...entry('192.0.2.7'), reason: { ruleId: '100200', description: 'a\tb\nc\u2028d\re\u0000f 192.0.2.8\t{"address":"192.0.2.8"}' } };
    state.change({ put: [entry('192.0.2.6'), hostile, entry('192.0.2.8')] });
    expect(readFileSync(join(state.blocksDir, 'nftables.bulk'), 'utf8').split('\n')).toHaveLength(4);
    expect(state.get({ backend: 'nftables', address: '192.0.2.7' })).toEqual(hostile);
    expect(state.get({ backend: 'nftables', address: '192.0.2.8' })).toEqual(entry('192.0.2.8'));
    expect(state.all().map((one) => one.address).sort()).toEqual(['192.0.2.6', '192.0.2.7', '192.0.2.8']);
    expect(corrupt).toEqual([]);
  });

  it('falls back to the bulk line when the entry file over it is unreadable, in get() and all() alike', () => {
    state.change({ put: [entry('192.0.2.1')] });
    writeFileSync(join(state.blocksDir, 'nftables-192.0.2.1.json'), '{"address":');
    expect(state.all()).toEqual([entry('192.0.2.1')]);
    expect(corrupt).toEqual([expect.stringMatching(/nftables-192\.0\.2\.1\.json\.corrupt: /)]);
    expect(state.setAside()).toEqual(['nftables-192.0.2.1.json.corrupt']);
    expect(new StateStore(join(dir, 'missing')).setAside()).toEqual([]);
    expect(state.get({ backend: 'nftables', address: '192.0.2.1' })).toEqual(entry('192.0.2.1'));
  });
});
