/**
 * The AR protocol, driven as wazuh-execd drives it (test/harness/execd.ts), on the dry-run backend so that
 * only the protocol is under test here. Cases port Wazuh 4.14.7's own unit and integration tests
 * (shared/research/wazuh-ar-protocol.md, section 9) plus what Palisade promises beyond them.
 */
import { chmodSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alertFrom } from './harness/alerts.js';
import { Execd } from './harness/execd.js';
import { wazuhLogLine } from './harness/install.js';
import { installPerTest } from './harness/verbs.js';

const fx = installPerTest('backend: dry-run\n');

function expectWazuhFormat(lines: string[]) {
  for (const [index, line] of lines.entries()) {
    // A blank line follows each echoed stdin line, exactly as in Wazuh's own log.
    if (line === '') {
      expect(lines[index - 1]).toMatch(wazuhLogLine);
      continue;
    }
    expect(line).toMatch(wazuhLogLine);
    const rest = line.replace(wazuhLogLine, '');
    // An echoed stdin line (followed by its blank line) is whatever arrived, as in Wazuh's log.
    if (lines[index + 1] === '') continue;
    if (rest.startsWith('{')) expect(() => JSON.parse(rest)).not.toThrow();
    else expect(['Starting', 'Ended', 'Aborted', 'Invalid input format', "Invalid value of 'command'", 'Cannot read input from stdin', "Cannot read 'srcip' from data or invalid IP format", 'Unable to take lock. End.']).toContain(rest);
  }
}

describe('add, abort and delete through execd', () => {
  it('sends check_keys with the source address, acts on continue and logs as firewall-drop does', async () => {
    const run = await fx.execd.add('palisade-drop', alertFrom('203.0.113.7'));
    expect(run.keysLine).toBe('{"version":1,"origin":{"name":"palisade-drop","module":"active-response"},"command":"check_keys","parameters":{"keys":["203.0.113.7"]}}');
    expect(run.rkey).toBe('palisade-drop-203.0.113.7');
    expect(run.decision).toBe('continue');
    expect(run.exitCode).toBe(0);

    const lines = fx.install.logLines().map((line) => line.replace(wazuhLogLine, ''));
    expect(lines[0]).toBe('Starting');
    expect(JSON.parse(lines[1]!)).toMatchObject({ command: 'add', origin: { module: 'wazuh-execd' }, parameters: { program: 'active-response/bin/palisade-drop' } });
    expect(lines[2]).toBe('');
    expect(lines[3]).toBe(run.keysLine);
    expect(JSON.parse(lines[4]!)).toMatchObject({ command: 'continue' });
    expect(lines[5]).toBe('');
    expect(JSON.parse(lines[6]!)).toMatchObject({ level: 'info', event: 'blocked', address: '203.0.113.7', backend: 'dry-run', result: 'added', rule: { ruleId: '5712' } });
    expect(lines[7]).toBe('Ended');
    expect(lines).toHaveLength(8);
    expectWazuhFormat(fx.install.logLines());
    expect(fx.install.stateEntries()).toEqual([expect.objectContaining({ address: '203.0.113.7', backend: 'dry-run', holders: [expect.objectContaining({ by: 'palisade-drop', key: '203.0.113.7' })] })]);
  });

  it('on abort renews the block, logs Aborted and no Ended (timeout_repeated)', async () => {
    await fx.execd.add('palisade-drop', alertFrom('203.0.113.7'));
    const before = fx.install.stateEntries()[0]!;
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const again = await fx.execd.add('palisade-drop', alertFrom('203.0.113.7'));
    expect(again.decision).toBe('abort');
    expect(again.exitCode).toBe(0);
    const tail = fx.install.logLines().slice(-2).map((line) => line.replace(wazuhLogLine, ''));
    expect(JSON.parse(tail[0]!)).toMatchObject({ event: 'refreshed', address: '203.0.113.7' });
    expect(tail[1]).toBe('Aborted');
    expect(fx.install.logLines().filter((line) => line.endsWith(': Ended'))).toHaveLength(1);
    const after = fx.install.stateEntries()[0]!;
    expect(after.since).toBe(before.since);
    expect(after.expiresAt as number).toBeGreaterThan(before.expiresAt as number);
  });

  it('keys each address apart, so a second attacker is blocked, not collapsed onto the first (wazuh#13116)', async () => {
    await fx.execd.add('palisade-drop', alertFrom('203.0.113.7'));
    const second = await fx.execd.add('palisade-drop', alertFrom('203.0.113.8'));
    expect(second.decision).toBe('continue');
    expect(fx.install.stateEntries().map((entry) => entry.address).sort()).toEqual(['203.0.113.7', '203.0.113.8']);
  });

  it('runs the delete with stdin closed and undoes exactly the block', async () => {
    await fx.execd.add('palisade-drop', alertFrom('203.0.113.7'));
    await fx.execd.add('palisade-drop', alertFrom('203.0.113.8'));
    const deleted = await fx.execd.expire('palisade-drop-203.0.113.7');
    expect(deleted.exitCode).toBe(0);
    expect(fx.install.stateEntries().map((entry) => entry.address)).toEqual(['203.0.113.8']);
    const tail = fx.install.logLines().slice(-5).map((line) => line.replace(wazuhLogLine, ''));
    expect(tail[0]).toBe('Starting');
    expect(JSON.parse(tail[1]!)).toMatchObject({ command: 'delete' });
    expect(tail[2]).toBe('');
    expect(JSON.parse(tail[3]!)).toMatchObject({ event: 'unblocked', address: '203.0.113.7', result: 'deleted' });
    expect(tail[4]).toBe('Ended');
    expectWazuhFormat(fx.install.logLines());
  });

  it('deleting an address that is not blocked succeeds and says so', async () => {
    const run = await fx.execd.delete('palisade-drop', alertFrom('203.0.113.9'));
    expect(run.exitCode).toBe(0);
    // Palisade holds no block of it, so the firewall is not asked.
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'unblocked', result: 'absent' });
  });

  it('exits by itself after the reply even when stdin stays open', async () => {
    const run = await fx.execd.add('palisade-drop', alertFrom('203.0.113.7'), { keepStdinOpen: true });
    expect(run.exitCode).toBe(0);
  });

  it('normalises the key: IPv6 compressed, IPv4-mapped IPv6 as IPv4', async () => {
    expect((await fx.execd.add('palisade-drop', alertFrom('2001:0db8:0000::0001'))).keys).toEqual(['2001:db8::1']);
    expect((await fx.execd.add('palisade-drop', alertFrom('::ffff:198.51.100.20'))).keys).toEqual(['198.51.100.20']);
  });

  it('blocks the /64 of an IPv6 attacker when ipv6_prefix says so', async () => {
    fx.install.writeConfig('backend: dry-run\nipv6_prefix: 64\n');
    const run = await fx.execd.add('palisade-drop', alertFrom('2001:db8:1:2:aaaa::5'));
    expect(run.keys).toEqual(['2001:db8:1:2::/64']);
    expect(fx.install.stateEntries()).toEqual([expect.objectContaining({ address: '2001:db8:1:2::/64', prefix: 64 })]);
  });

  it('takes the address where get_srcip_from_json does: Windows eventdata first', async () => {
    const alert = { rule: { id: 60122 }, data: { srcip: '203.0.113.1', win: { eventdata: { ipAddress: '203.0.113.2', destinationIp: '203.0.113.3' } } } };
    expect((await fx.execd.add('palisade-drop', alert)).keys).toEqual(['203.0.113.2']);
    const destination = { data: { srcip: '203.0.113.1', win: { eventdata: { destinationIp: '203.0.113.3' } } } };
    expect((await fx.execd.add('palisade-drop', destination)).keys).toEqual(['203.0.113.3']);
  });

  it('answers every stateless (timeout 0) invocation with continue', async () => {
    expect((await fx.execd.add('palisade-drop', alertFrom('203.0.113.7'), { timeout: 0 })).decision).toBe('continue');
    expect((await fx.execd.add('palisade-drop', alertFrom('203.0.113.7'), { timeout: 0 })).decision).toBe('continue');
    expect(fx.install.logRecords().filter((record) => record.event === 'blocked')).toHaveLength(2);
  });
});

describe('bad input changes nothing and says why in Wazuh\'s words', () => {
  const cases: Array<[string, string, string]> = [
    ['not JSON (json_err)', 'unknown', 'Invalid input format'],
    ['an empty object (get_name_err)', '{}', 'Invalid input format'],
    ['no version', '{"origin":{},"command":"add","parameters":{"alert":{"data":{"srcip":"203.0.113.7"}}}}', 'Invalid input format'],
    ['version as a string', '{"version":"1","command":"add","parameters":{"alert":{"data":{"srcip":"203.0.113.7"}}}}', 'Invalid input format'],
    ['no parameters', '{"version":1,"origin":{},"command":"add"}', 'Invalid input format'],
    ['an unknown command', '{"version":1,"command":"restart","parameters":{"alert":{"data":{"srcip":"203.0.113.7"}}}}', "Invalid value of 'command'"],
    // Names every object inherits: a verb table read through the prototype would take them for a verb.
    ...['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf'].map((command): [string, string, string] => [
      `command "${command}"`,
      `{"version":1,"command":"${command}","parameters":{"alert":{"data":{"srcip":"203.0.113.7"}}}}`,
      "Invalid value of 'command'",
    ]),
    ['no srcip', '{"version":1,"command":"add","parameters":{"alert":{"data":{"dstuser":"Test."}}}}', "Cannot read 'srcip' from data or invalid IP format"],
    ['path traversal as srcip', '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"../../tmp/malicious"}}}}', "Cannot read 'srcip' from data or invalid IP format"],
    ['shell characters in srcip', '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"192.168.1.1; rm -rf /"}}}}', "Cannot read 'srcip' from data or invalid IP format"],
    ['an empty srcip', '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":""}}}}', "Cannot read 'srcip' from data or invalid IP format"],
    ['an inet_aton shorthand', '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"127.1"}}}}', "Cannot read 'srcip' from data or invalid IP format"],
    ['a scoped IPv6 address', '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"fe80::1%eth0"}}}}', "Cannot read 'srcip' from data or invalid IP format"],
    ['an address with a port', '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"203.0.113.7:22"}}}}', "Cannot read 'srcip' from data or invalid IP format"],
    ['a number as srcip', '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":3405803783}}}}', "Cannot read 'srcip' from data or invalid IP format"],
    ['an invalid Windows address before a valid srcip', '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"203.0.113.7","win":{"eventdata":{"ipAddress":"-"}}}}}}', "Cannot read 'srcip' from data or invalid IP format"],
  ];

  it.each(cases)('%s', async (_name, line, wazuhMessage) => {
    const run = await fx.execd.sendAndWait('palisade-drop', `${line}\n`);
    expect(run.exitCode).toBe(255);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^palisade-drop: refused: /);
    const lines = fx.install.logLines().map((l) => l.replace(wazuhLogLine, ''));
    expect(lines).toContain(wazuhMessage);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ level: 'error', event: 'error' });
    expect(fx.install.stateEntries()).toEqual([]);
    expectWazuhFormat(fx.install.logLines());
  });

  it('a message over 64 KiB is refused without waiting for more', async () => {
    const run = await fx.execd.sendAndWait('palisade-drop', `{"version":1,"command":"add","parameters":{"pad":"${'x'.repeat(70_000)}"}}\n`);
    expect(run.exitCode).toBe(255);
    expect(fx.install.logLines().map((l) => l.replace(wazuhLogLine, ''))).toContain('Invalid input format');
  });

  it('an empty line is "Invalid input format"', async () => {
    const run = await fx.execd.deleteLine('palisade-drop', '');
    expect(run.exitCode).toBe(255);
    expect(fx.install.logLines().map((l) => l.replace(wazuhLogLine, ''))).toContain('Invalid input format');
  });

  it('stdin closed with nothing on it: "Cannot read input from stdin"', async () => {
    const run = await fx.execd.pipeIn('palisade-drop', '');
    expect(run.exitCode).toBe(255);
    expect(fx.install.logLines().map((l) => l.replace(wazuhLogLine, ''))).toEqual(['Starting', 'Cannot read input from stdin', expect.stringContaining('"event":"error"')]);
  });

  it('a bad config file is one line naming the key, exit 1, nothing done', async () => {
    fx.install.writeConfig('backend: pf\nmax_ttl: forever\n');
    const run = await fx.execd.add('palisade-drop', alertFrom('203.0.113.7'));
    expect(run.keysLine).toBeUndefined();
    expect(run.exitCode).toBe(1);
    const error = fx.install.logRecords().at(-1)!;
    expect(error.reason).toMatch(/palisade\.yml: backend: .*; max_ttl: "forever" is not a duration/);
    expect(run.stderr).toContain('backend');
    expect(fx.install.stateEntries()).toEqual([]);
  });

  it('an unknown key in the config is named', async () => {
    fx.install.writeConfig('backend: dry-run\nmax_tll: 1h\n');
    const run = await fx.execd.add('palisade-drop', alertFrom('203.0.113.7'));
    expect(run.exitCode).toBe(1);
    expect(String(fx.install.logRecords().at(-1)!.reason)).toContain('unknown key "max_tll"');
  });
});

describe('files that decide what root does', () => {
  const configFile = () => join(fx.install.root, 'etc', 'palisade.yml');

  it.each([
    ['owned by another user', () => chownSync(configFile(), 1000, 1000), /palisade\.yml is owned by uid 1000, not root.*run chown root /],
    ['writable by its group', () => chmodSync(configFile(), 0o660), /palisade\.yml can be written by group or others \(mode 0660\).*run chmod go-w /],
    ['writable by everyone', () => chmodSync(configFile(), 0o646), /palisade\.yml can be written by group or others \(mode 0646\).*run chmod go-w /],
  ])('refuses a palisade.yml %s, saying why and how to fix it, and blocks nothing', async (_name, spoil, reason) => {
    expect((await fx.execd.add('palisade-drop', alertFrom('203.0.113.6'))).exitCode).toBe(0); // cached as valid first
    spoil();
    const run = await fx.execd.add('palisade-drop', alertFrom('203.0.113.7'));
    expect(run.exitCode).toBe(1);
    expect(run.keysLine).toBeUndefined();
    expect(String(fx.install.logRecords().at(-1)!.reason)).toMatch(reason);
    expect(run.stderr).toMatch(reason);
    expect(fx.install.stateEntries().map((entry) => entry.address)).toEqual(['203.0.113.6']);
  });

  it('takes palisade.yml as the packages install it: root and the wazuh group, 0640', async () => {
    chownSync(configFile(), 0, 999);
    chmodSync(configFile(), 0o640);
    expect((await fx.execd.add('palisade-drop', alertFrom('203.0.113.7'))).decision).toBe('continue');
  });
});

describe('the allow-list', () => {
  it.each([
    ['loopback', '127.0.0.1'],
    ['IPv6 loopback', '::1'],
    ['link-local', '169.254.10.10'],
    ['multicast', '224.0.0.5'],
    ['unspecified', '0.0.0.0'],
    ['loopback elsewhere in 127/8', '127.8.9.10'],
    ['IPv4-mapped loopback', '::ffff:127.0.0.1'],
    ['IPv6 loopback written out', '0:0:0:0:0:0:0:1'],
  ])('never blocks %s, writes nothing on stdout, and logs why', async (_name, address) => {
    const run = await fx.execd.add('palisade-drop', alertFrom(address));
    expect(run.keysLine).toBeUndefined();
    expect(run.exitCode).toBe(0);
    expect(fx.execd.timeouts.size).toBe(0);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'skipped-allowlisted' });
    expect(fx.install.stateEntries()).toEqual([]);
  });

  it('never blocks the Wazuh manager named in ossec.conf, nor config allowlist networks', async () => {
    fx.install.writeOssecConf('<ossec_config>\n  <client>\n    <server>\n      <address>198.51.100.10</address>\n      <port>1514</port>\n    </server>\n  </client>\n</ossec_config>\n');
    fx.install.writeConfig('backend: dry-run\nallowlist: [203.0.113.0/24]\n');
    for (const address of ['198.51.100.10', '203.0.113.99']) {
      const run = await fx.execd.add('palisade-drop', alertFrom(address));
      expect(run.keysLine).toBeUndefined();
    }
    const reasons = fx.install.logRecords().map((record) => String(record.reason));
    expect(reasons[0]).toContain('Wazuh manager');
    expect(reasons[1]).toContain('config allowlist');
    expect((await fx.execd.add('palisade-drop', alertFrom('198.51.100.11'))).decision).toBe('continue');
  });
});

describe('concurrency', () => {
  it('20 invocations at once for 20 addresses leave 20 entries', async () => {
    const addresses = Array.from({ length: 20 }, (_, i) => `203.0.113.${i + 1}`);
    const runs = await Promise.all(addresses.map((address) => new Execd(fx.install).add('palisade-drop', alertFrom(address))));
    expect(runs.every((run) => run.exitCode === 0)).toBe(true);
    expect(fx.install.stateEntries().map((entry) => entry.address).sort()).toEqual([...addresses].sort());
  });

  it('300 invocations at once, as a storm hands them to execd and to hand-run scripts, lose none', async () => {
    // Every one waits its turn at the state lock: give the queue the time 300 processes take on two cores.
    fx.install.writeConfig('backend: dry-run\nlock_timeout: 300\n');
    const addresses = Array.from({ length: 300 }, (_, i) => `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`);
    const runs = await Promise.all(addresses.map((address) => new Execd(fx.install, { hangMs: 280_000 }).add('palisade-drop', alertFrom(address))));
    expect(runs.filter((run) => run.exitCode !== 0)).toEqual([]);
    expect(fx.install.stateEntries().map((entry) => entry.address).sort()).toEqual([...addresses].sort());
    expect(fx.install.logRecords().filter((record) => record.event === 'blocked')).toHaveLength(300);
  }, 300_000);
});

describe('hostile input', () => {
  const nasty: Array<[string, string]> = [
    ['10,000 nested arrays', `${'['.repeat(10_000)}${']'.repeat(10_000)}`],
    ['a NUL byte inside the JSON', '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"203.0.113.7\u0000; reboot"}}}}'],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x22, 0x7d]).toString('latin1')],
    ['prototype pollution keys', '{"version":1,"command":"add","__proto__":{"command":"add"},"parameters":{"alert":{"data":{"__proto__":{"srcip":"203.0.113.7"}}}}}'],
    ['fullwidth digits', '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"２０３.０.１１３.７"}}}}'],
    ['a srcip of 60 KB', `{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"${'1'.repeat(60_000)}"}}}}`],
    ['a number too large for a double', '{"version":1e400,"command":"add","parameters":{"alert":{"data":{"srcip":"203.0.113.7"}}}}'],
    ['command as an array', '{"version":1,"command":["add"],"parameters":{"alert":{"data":{"srcip":"203.0.113.7"}}}}'],
  ];

  it.each(nasty)('%s: refused or harmless, never a crash, never a block', async (_name, line) => {
    const run = await fx.execd.sendAndWait('palisade-drop', `${line}\n`);
    expect([255, 0]).toContain(run.exitCode);
    expect(run.stdout).toBe('');
    expect(run.stderr).not.toMatch(/    at |TypeError|RangeError/);
    expect(fx.install.stateEntries()).toEqual([]);
    for (const logLine of fx.install.logLines()) if (logLine !== '') expect(logLine).toMatch(wazuhLogLine);
    expect(({} as Record<string, unknown>).srcip).toBeUndefined();
  });
});

