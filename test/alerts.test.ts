/**
 * Issue 9: the alerts administrators really have and the way they really test. The firewall here is the
 * dry-run backend; test/drop-kernel.test.ts does the same against real kernels.
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { palisade, installPerTest } from './harness/verbs.js';
import { wazuhLogLine } from './harness/install.js';

const fx = installPerTest('backend: dry-run\n');

const addresses = () => fx.install.stateEntries().map((entry) => entry.address);

describe("the guide's manual echo test", () => {
  it('blocks on add and unblocks on delete, saying so on stderr and in the log', async () => {
    const path = fx.install.commandPath('palisade-drop');
    const add = await execa('sh', ['-c', `echo '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"10.0.0.1"}}}}' | ${path}`], { reject: false });
    expect(add.exitCode).toBe(0);
    expect(add.stderr).toContain('blocked 10.0.0.1 on dry-run');
    expect(addresses()).toEqual(['10.0.0.1']);
    expect(fx.install.logRecords().map((record) => record.event)).toEqual(['manual-run', 'blocked']);

    const del = await execa('sh', ['-c', `echo '{"version":1,"command":"delete","parameters":{"alert":{"data":{"srcip":"10.0.0.1"}}}}' | ${path}`], { reject: false });
    expect(del.exitCode).toBe(0);
    expect(del.stderr).toContain('unblocked 10.0.0.1');
    expect(addresses()).toEqual([]);
    for (const line of fx.install.logLines()) if (line !== '') expect(line).toMatch(wazuhLogLine);
  });

  it('says on stderr why an allow-listed address was left alone', async () => {
    const run = await fx.execd.pipeIn('palisade-drop', '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"127.0.0.1"}}}}\n');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/skipped: 127\.0\.0\.1 is allow-listed: loopback/);
  });

  it('takes only the first line of a multi-line paste', async () => {
    const first = '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"198.51.100.5"}}}}';
    const second = '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"198.51.100.6"}}}}';
    const run = await fx.execd.pipeIn('palisade-drop', `${first}\n${second}\n\n`);
    expect(run.exitCode).toBe(0);
    expect(addresses()).toEqual(['198.51.100.5']);
    expect(fx.install.logRecords()[0]).toMatchObject({ event: 'ignored-input' });
  });
});

describe('where the address is', () => {
  const suricata = {
    timestamp: '2026-11-26T09:00:00.000+0000',
    rule: { level: 12, description: 'Suricata: Alert - ET SCAN Potential SSH Scan', id: '86601', groups: ['ids', 'suricata'] },
    decoder: { name: 'json' },
    data: { timestamp: '2026-11-26T09:00:00.000000+0000', event_type: 'alert', src_ip: '198.51.100.23', src_port: '51234', dest_ip: '192.0.2.1', dest_port: '22', proto: 'TCP', alert: { action: 'allowed', signature_id: '2001219', signature: 'ET SCAN Potential SSH Scan', severity: '2' } },
    location: '/var/log/suricata/eve.json',
  };

  it('refuses a Suricata alert by default: its address is not where firewall-drop looks', async () => {
    const run = await fx.execd.add('palisade-drop', suricata);
    expect(run.exitCode).toBe(255);
    expect(run.keysLine).toBeUndefined();
    expect(fx.install.logLines().map((line) => line.replace(wazuhLogLine, ''))).toContain("Cannot read 'srcip' from data or invalid IP format");
    expect(String(fx.install.logRecords().at(-1)!.reason)).toContain('--source-field');
    expect(addresses()).toEqual([]);
  });

  it('blocks data.src_ip with <extra_args>--source-field data.src_ip</extra_args>', async () => {
    const run = await fx.execd.add('palisade-drop', suricata, { extraArgs: ['--source-field', 'data.src_ip'] });
    expect(run.keys).toEqual(['198.51.100.23']);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'blocked', field: 'data.src_ip' });
    await fx.execd.expire(run.rkey);
    expect(addresses()).toEqual([]);
  });

  it('blocks data.src_ip with source_fields: in the config', async () => {
    fx.install.writeConfig('backend: dry-run\nsource_fields: [data.src_ip, data.srcip]\n');
    expect((await fx.execd.add('palisade-drop', suricata)).keys).toEqual(['198.51.100.23']);
    expect((await fx.execd.add('palisade-drop', { data: { srcip: '198.51.100.24' } })).keys).toEqual(['198.51.100.24']);
  });

  it('names the field when its value is not an address', async () => {
    for (const [value, reason] of [[['198.51.100.1'], 'array'], [{ ip: '198.51.100.1' }, 'object'], ['X.X.X.X', 'not an IP address'], ['198.51.100.1:443', 'not an IP address']] as const) {
      const run = await fx.execd.add('palisade-drop', { data: { src_ip: value } }, { extraArgs: ['--source-field', 'data.src_ip'] });
      expect(run.exitCode).toBe(255);
      expect(String(fx.install.logRecords().at(-1)!.reason)).toBe(`data.src_ip is ${reason.startsWith('not') ? reason : `not a string (${reason})`}`);
    }
    expect(addresses()).toEqual([]);
  });

  it('blocks a Windows logon failure (4625) by its ipAddress', async () => {
    const alert = {
      rule: { level: 5, description: 'Logon failure - Unknown user or bad password.', id: '60122', groups: ['windows', 'windows_security', 'authentication_failed'] },
      data: { win: { system: { eventID: '4625', providerName: 'Microsoft-Windows-Security-Auditing' }, eventdata: { targetUserName: 'Administrator', logonType: '3', ipAddress: '198.51.100.44', ipPort: '49822', workstationName: 'KALI' } } },
    };
    expect((await fx.execd.add('palisade-drop', alert)).keys).toEqual(['198.51.100.44']);
  });
});

describe('options through <extra_args>', () => {
  const alert = { data: { srcip: '198.51.100.7' } };

  it('--ttl sets the block length, capped by max_ttl', async () => {
    fx.install.writeConfig('backend: dry-run\nmax_ttl: 1h\n');
    await fx.execd.add('palisade-drop', alert, { extraArgs: ['--ttl', '10m'] });
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'blocked', ttl: 600 });
    await fx.execd.add('palisade-drop', { data: { srcip: '198.51.100.8' } }, { extraArgs: ['--ttl', '30d'] });
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'blocked', ttl: 3600 });
  });

  it('a pinned command refuses --backend instead of ignoring it', async () => {
    const run = await fx.execd.add('palisade-nftables-drop', alert, { extraArgs: ['--backend', 'ipset'] });
    expect(run.exitCode).toBe(255);
    expect(run.keysLine).toBeUndefined();
    expect(String(fx.install.logRecords().at(-1)!.reason)).toContain('palisade-nftables-drop does not take --backend');
    expect(addresses()).toEqual([]);
  });

  it.each([
    [['--tll', '10m'], 'unknown option "--tll"'],
    [['--ttl'], 'option --ttl needs a value'],
    [['--ttl', 'forever'], 'option --ttl: "forever" is not a duration'],
    [['--backend', 'pf'], 'option --backend'],
    [['--reject=yes'], 'option --reject takes no value'],
    [['--source-field', '../etc/passwd'], 'option --source-field'],
    [['-arg1', '--arg2', 'arg3', ';', 'cat', '/etc/passwd'], 'unknown option "-arg1"'],
    [['toString'], 'unknown option "toString"'],
    [['__proto__'], 'unknown option "__proto__"'],
    [['constructor', '10m'], 'unknown option "constructor"'],
  ])('refuses %j, naming the flag, and changes nothing', async (extraArgs, reason) => {
    const run = await fx.execd.add('palisade-drop', alert, { extraArgs });
    expect(run.exitCode).toBe(1);
    expect(run.keysLine).toBeUndefined();
    expect(String(fx.install.logRecords().at(-1)!.reason)).toContain(reason);
    expect(addresses()).toEqual([]);
  });
});

describe('alert text in the operator\'s tables', () => {
  it('palisade list shows control characters as escapes, so an alert can neither forge nor hide a row', async () => {
    // Erase the line and go up one, a forged row after CR/LF, a C1 CSI, and a right-to-left override.
    const forged = '\r\n198.51.100.250  dry-run  palisade-drop  2026-01-01 00:00:00  1h  1  x  held';
    const alert = { rule: { id: `5712${forged}`, description: `brute force\u001b[2K\u001b[1A\u009b2K\u202eevil\u0007` }, data: { srcip: '198.51.100.7' } };
    expect((await fx.execd.add('palisade-drop', alert)).exitCode).toBe(0);
    const run = await palisade(fx.install, ['list']);
    expect(run.exitCode).toBe(0);
    const lines = run.stdout.split('\n');
    const rows = lines.filter((line) => /^\S+ +dry-run /.test(line));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(/^198\.51\.100\.7 /);
    expect(rows[0]).toContain('5712\\x0d\\x0a198.51.100.250');
    expect(rows[0]).toContain('brute force\\x1b[2K\\x1b[1A\\x9b2K\\u202eevil\\x07');
    expect(run.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    // --json is for scripts, which get the text as it came.
    const listed = JSON.parse((await palisade(fx.install, ['list', '--json'])).stdout) as { blocks: Array<{ ruleId: string }> };
    expect(listed.blocks[0]!.ruleId).toBe(`5712${forged}`);
  });
});

describe('alerts as Wazuh really writes them', () => {
  it('rule.id as a number or a string', async () => {
    await fx.execd.add('palisade-drop', { rule: { id: 5712, level: 10 }, data: { srcip: '198.51.100.1' } });
    await fx.execd.add('palisade-drop', { rule: { id: '5712', level: 10 }, data: { srcip: '198.51.100.2' } });
    expect(fx.install.stateEntries().map((entry) => entry.reason)).toEqual([{ ruleId: '5712' }, { ruleId: '5712' }]);
  });

  it('an alert with no data object is refused in Wazuh\'s words', async () => {
    const run = await fx.execd.add('palisade-drop', { rule: { id: '5712' }, full_log: 'x' });
    expect(run.exitCode).toBe(255);
    expect(fx.install.logLines().map((line) => line.replace(wazuhLogLine, ''))).toContain("Cannot read 'srcip' from data or invalid IP format");
  });

  it('a full_log of several KB holding JSON, unicode and \\r\\n in fields, odd group whitespace', async () => {
    const inner = JSON.stringify({ message: 'ünïcödé ☃ "quoted"', nested: { a: [1, 2, 3] }, pad: 'y'.repeat(6000) });
    const alert = {
      rule: { id: '100200', description: 'Custom: naïve ☃ rule\r\nsecond line', groups: [' web ', 'attack\t', ''] },
      full_log: `${inner}\r\n${inner}`,
      data: { srcip: '198.51.100.77', url: '/ünï?q=%0d%0a' },
    };
    const run = await fx.execd.add('palisade-drop', alert);
    expect(run.keys).toEqual(['198.51.100.77']);
    expect(fx.install.stateEntries()[0]).toMatchObject({ reason: { ruleId: '100200', description: 'Custom: naïve ☃ rule\r\nsecond line' } });
    // \r\n inside a JSON string stays escaped: the log keeps one record per line.
    for (const line of fx.install.logLines()) if (line !== '') expect(line).toMatch(wazuhLogLine);
  });

  it('origin.name null or empty (API-launched)', async () => {
    for (const origin of [{ name: null, module: 'API' }, { name: '', module: 'API' }]) {
      const line = JSON.stringify({ version: 1, origin, command: 'add', parameters: { extra_args: [], alert: { data: { srcip: '198.51.100.90' } } } });
      const run = await fx.execd.addLine('palisade-drop', line, 0);
      expect(run.exitCode).toBe(0);
    }
    expect(addresses()).toEqual(['198.51.100.90']);
  });

  it('a 5.x message (enable/disable) blocks and unblocks', async () => {
    const message = (command: string) => JSON.stringify({ version: 1, origin: { name: 'node01', module: 'wazuh-execd' }, command, parameters: { extra_args: [], alert: { data: { srcip: '198.51.100.91' } } } });
    expect((await fx.execd.addLine('palisade-drop', message('enable'))).exitCode).toBe(0);
    expect(addresses()).toEqual(['198.51.100.91']);
    expect((await fx.execd.deleteLine('palisade-drop', message('disable'))).exitCode).toBe(0);
    expect(addresses()).toEqual([]);
  });
});
