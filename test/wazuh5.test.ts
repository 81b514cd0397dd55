/**
 * Issue 17: Wazuh 5.0's active-response message, driven as 5.x execd drives it (test/harness/execd.ts speaks
 * both dialects), on the dry-run backend so that only the protocol is under test here. The real 5.x execd runs
 * the same flows in test/wazuh5-execd.test.ts; each command in each dialect is in test/dialects.test.ts.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { appendCommand } from '../src/cli/execd-simulator.js';
import { finding5 } from './harness/alerts.js';
import { wazuhLogLine } from './harness/install.js';
import { installPerTest } from './harness/verbs.js';

const fx = installPerTest('backend: dry-run\n');

const addresses = () => fx.install.stateEntries().map((entry) => entry.address).sort();
const logText = () => fx.install.logLines().map((line) => line.replace(wazuhLogLine, ''));

describe('enable, abort and disable through 5.x execd', () => {
  it('sends the same check_keys, acts on continue, and logs the lines Wazuh 5.x logs', async () => {
    const run = await fx.execd.enable('palisade-drop', finding5('203.0.113.7'), { statefulTimeout: 600 });
    expect(run.keysLine).toBe('{"version":1,"origin":{"name":"palisade-drop","module":"active-response"},"command":"check_keys","parameters":{"keys":["203.0.113.7"]}}');
    expect(run.decision).toBe('continue');
    expect(run.exitCode).toBe(0);
    // execd appended its command as the last member; the reply is the same document with only that changed.
    expect(run.line.endsWith(',"command":"enable"}')).toBe(true);
    expect(run.replyLine).toBe(run.line.replace(/"enable"\}$/, '"continue"}'));

    const lines = logText();
    expect(lines[0]).toBe('Starting');
    expect(lines[1]).toBe(run.line);
    expect(lines[2]).toBe('');
    expect(lines[3]).toBe(run.keysLine);
    expect(lines[4]).toBe(run.replyLine);
    expect(lines[5]).toBe('');
    expect(JSON.parse(lines[6]!)).toMatchObject({
      level: 'info',
      event: 'blocked',
      address: '203.0.113.7',
      field: 'source.ip',
      rule: { ruleId: 'd5cc0e71-bcbb-4adc-98de-caed210cebf2', description: 'Failed authentication attempt' },
    });
    expect(lines[7]).toBe('Ended');
    expect(lines).toHaveLength(8);
    expect(fx.install.stateEntries()).toEqual([expect.objectContaining({ address: '203.0.113.7', reason: { ruleId: 'd5cc0e71-bcbb-4adc-98de-caed210cebf2', description: 'Failed authentication attempt' } })]);
  });

  it('on abort renews the block and logs Aborted; the timed disable is the first document and unblocks', async () => {
    const first = await fx.execd.enable('palisade-drop', finding5('203.0.113.7'), { statefulTimeout: 5 });
    const again = await fx.execd.enable('palisade-drop', finding5('203.0.113.7', { '@timestamp': '2026-12-06T03:50:39.205Z' }), { statefulTimeout: 5 });
    expect(again.decision).toBe('abort');
    expect(logText().slice(-2)[1]).toBe('Aborted');
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'refreshed', address: '203.0.113.7' });

    const disable = await fx.execd.expire(first.rkey);
    expect(disable.line).toBe(first.line.replace(/"enable"\}$/, '"disable"}'));
    expect(disable.exitCode).toBe(0);
    expect(addresses()).toEqual([]);
    const tail = logText().slice(-5);
    expect(tail[0]).toBe('Starting');
    expect(tail[1]).toBe(disable.line);
    expect(tail[2]).toBe('');
    expect(JSON.parse(tail[3]!)).toMatchObject({ event: 'unblocked', address: '203.0.113.7' });
    expect(tail[4]).toBe('Ended');
  });

  it('a stateless response gets continue every time and keeps nothing in execd\'s list', async () => {
    for (let i = 0; i < 2; i++) {
      const run = await fx.execd.enable('palisade-drop', finding5('203.0.113.9'), { type: 'stateless' });
      expect(run.decision).toBe('continue');
    }
    expect(fx.execd.timeouts.size).toBe(0);
    expect(addresses()).toEqual(['203.0.113.9']);
  });

  it("the README's 5.x echo test blocks, and with disable unblocks, by hand", async () => {
    // As the README writes it, in a shell.
    const echo = (command: string) =>
      `AR='"wazuh":{"active_response":{"type":"stateful","stateful_timeout":600}}'; echo "{$AR,\\"source\\":{\\"ip\\":\\"203.0.113.7\\"},\\"command\\":\\"${command}\\"}" | ./palisade-drop`;
    const cwd = join(fx.install.root, 'active-response', 'bin');
    const enable = await execa('sh', ['-c', echo('enable')], { cwd, reject: false });
    expect(enable.exitCode).toBe(0);
    expect(enable.stderr).toBe('palisade-drop: no reply from execd (run by hand): acting as on continue\npalisade-drop: blocked 203.0.113.7 on dry-run for 11m at most');
    expect(fx.install.logRecords().map((record) => record.event)).toEqual(['manual-run', 'blocked']);
    const disable = await execa('sh', ['-c', echo('disable')], { cwd, reject: false });
    expect(disable.exitCode).toBe(0);
    expect(disable.stderr).toBe('palisade-drop: unblocked 203.0.113.7 on dry-run');
    expect(addresses()).toEqual([]);
  });
});

describe('the kernel timer: stateful_timeout plus a margin, or max_ttl, and the log says which', () => {
  const blocked = () => fx.install.logRecords().filter((record) => record.event === 'blocked').at(-1);

  it.each<[string, Record<string, unknown>, number, string]>([
    ['stateful, 600 s', { statefulTimeout: 600 }, 660, 'stateful_timeout+margin'],
    ['stateful, 5.9 s (execd truncates to 5)', { statefulTimeout: 5.9 }, 65, 'stateful_timeout+margin'],
    ['stateless', { type: 'stateless' }, 604_800, 'max_ttl'],
    ['stateful with a timeout of 0 (execd: stateless)', { statefulTimeout: 0 }, 604_800, 'max_ttl'],
    ['stateful with the string "5" (execd: 0)', { statefulTimeout: '5' }, 604_800, 'max_ttl'],
    ['stateful with no timeout', { statefulTimeout: null }, 604_800, 'max_ttl'],
  ])('%s', async (_name, ar, ttl, expiry) => {
    await fx.execd.enable('palisade-drop', finding5('203.0.113.20'), ar);
    expect(blocked()).toMatchObject({ ttl, expiry });
    expect((fx.install.stateEntries()[0]!.expiresAt as number) - Math.floor(Date.now() / 1000)).toBeGreaterThan(ttl - 5);
  });

  it('max_ttl still caps it, and --ttl in extra_arguments still wins', async () => {
    fx.install.writeConfig('backend: dry-run\nmax_ttl: 10m\n');
    await fx.execd.enable('palisade-drop', finding5('203.0.113.21'), { statefulTimeout: 3600 });
    expect(blocked()).toMatchObject({ ttl: 600, expiry: 'max_ttl' });
    await fx.execd.enable('palisade-drop', finding5('203.0.113.22'), { statefulTimeout: 3600, extraArguments: '--ttl 2m' });
    expect(blocked()).toMatchObject({ ttl: 120, expiry: '--ttl' });
  });

  it('4.x never says when its delete comes: max_ttl, as before', async () => {
    await fx.execd.add('palisade-drop', { data: { srcip: '203.0.113.23' } });
    expect(blocked()).toMatchObject({ ttl: 604_800, expiry: 'max_ttl' });
  });
});

describe('where the address is in a finding', () => {
  const suricata = (ip: string) =>
    finding5(undefined, { source: undefined, destination: { ip: '192.0.2.1', port: 22 }, network: { transport: 'tcp' }, suricata: { src_ip: ip } });

  it('source.ip by default, refused in 5.x\'s words when absent', async () => {
    const run = await fx.execd.enable('palisade-drop', suricata('198.51.100.23'));
    expect(run.exitCode).toBe(255);
    expect(run.keysLine).toBeUndefined();
    expect(logText()).toContain("Cannot read 'source.ip' from data");
    expect(String(fx.install.logRecords().at(-1)!.reason)).toContain('no address in source.ip');
    expect(addresses()).toEqual([]);
  });

  it('--source-field in extra_arguments, quoted or not, overrides it', async () => {
    const run = await fx.execd.enable('palisade-drop', suricata('198.51.100.23'), { extraArguments: "--source-field 'suricata.src_ip'" });
    expect(run.keys).toEqual(['198.51.100.23']);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'blocked', field: 'suricata.src_ip' });
  });

  it('source_fields: in the config overrides it', async () => {
    fx.install.writeConfig('backend: dry-run\nsource_fields: [suricata.src_ip]\n');
    expect((await fx.execd.enable('palisade-drop', suricata('198.51.100.24'))).keys).toEqual(['198.51.100.24']);
  });

  it('4.x\'s data.srcip means nothing in a 5.x finding', async () => {
    const run = await fx.execd.enable('palisade-drop', finding5(undefined, { source: undefined, data: { srcip: '198.51.100.25' } }));
    expect(run.exitCode).toBe(255);
    expect(addresses()).toEqual([]);
  });
});

describe('extra_arguments: split without a shell, then checked as <extra_args> is', () => {
  it.each<[string, string]>([
    ['--tll 10m', 'unknown option "--tll"'],
    ['--ttl', 'option --ttl needs a value'],
    ['--ttl forever', 'option --ttl: "forever" is not a duration'],
    ['--severity high --queue urgent', 'unknown option "--severity"'],
    ['--ttl 1h; rm -rf /', 'unknown option "rm"'],
    ['--ttl 1h && reboot', 'unknown option "&&"'],
    ['$(reboot)', 'unknown option "$(reboot)"'],
    ['`reboot`', 'unknown option "`reboot`"'],
    ["--source-field 'data.srcip", "unbalanced ' at character 16 of extra_arguments"],
    ['--source-field "data.srcip', 'unbalanced " at character 16 of extra_arguments'],
    ['--reject \\', 'lone backslash'],
  ])('%j is refused, named, and changes nothing', async (extraArguments, reason) => {
    const run = await fx.execd.enable('palisade-drop', finding5('198.51.100.7'), { extraArguments });
    expect(run.exitCode).toBe(1);
    expect(run.keysLine).toBeUndefined();
    const error = fx.install.logRecords().at(-1)!;
    expect(error).toMatchObject({ level: 'error', event: 'error' });
    expect(String(error.reason)).toMatch(/^wazuh\.active_response\.extra_arguments: /);
    expect(String(error.reason)).toContain(reason);
    expect(addresses()).toEqual([]);
  });

  it.each([
    ['a URL', '--source-field https://hooks.slack.com/services/T0000/B0000/XoXbT0kEn5ecretW3bh00k'],
    ['a quoted URL with spaces', '--x "https://hooks.slack.com/services/T0000/B0000/XoXbT0kEn5ecretW3bh00k and more"'],
    ['a URL with an unbalanced quote', "--x 'https://hooks.slack.com/services/T0000/B0000/XoXbT0kEn5ecretW3bh00k"],
    ['a URL after "="', '--url=https://hooks.slack.com/services/T0000/B0000/XoXbT0kEn5ecretW3bh00k'],
  ])('%s is refused and never reaches the log', async (_name, extraArguments) => {
    const run = await fx.execd.enable('palisade-drop', finding5('198.51.100.8'), { extraArguments });
    expect(run.exitCode).toBe(1);
    expect(fx.install.logLines().join('\n')).not.toContain('XoXbT0kEn5ecretW3bh00k');
    expect(run.stderr).not.toContain('XoXbT0kEn5ecretW3bh00k');
    expect(addresses()).toEqual([]);
  });

  it('4.x: a URL after "=" in <extra_args> is refused and hidden the same way', async () => {
    const run = await fx.execd.add('palisade-drop', { data: { srcip: '198.51.100.8' } }, { extraArgs: ['--url=https://hooks.slack.com/services/T0000/B0000/XoXbT0kEn5ecretW3bh00k'] });
    expect(run.exitCode).toBe(1);
    expect(String(fx.install.logRecords().at(-1)!.reason)).toMatch(/^<extra_args>: a URL is refused here/);
    expect(fx.install.logLines().join('\n')).not.toContain('XoXbT0kEn5ecretW3bh00k');
  });

  it('null or absent extra_arguments are no options', async () => {
    expect((await fx.execd.enable('palisade-drop', finding5('198.51.100.9'), { extraArguments: null })).exitCode).toBe(0);
    expect(addresses()).toEqual(['198.51.100.9']);
  });
});

describe("a finding that has its own command: execd's verb each time", () => {
  /** The document with the finding's own member first; execd appends its enable after everything. */
  const withOwn = (ip: string, own: Record<string, unknown>, statefulTimeout = 5) => {
    const document = JSON.stringify(fx.execd.buildDocument5('palisade-drop', finding5(ip), { statefulTimeout }));
    return appendCommand(`{${JSON.stringify(own).slice(1, -1)},${document.slice(1)}`, 'enable');
  };

  it.each<[string, Record<string, unknown>]>([
    ['a shell command', { command: 'ls -la /tmp' }],
    ['"disable"', { command: 'disable' }],
    ['"continue"', { command: 'continue' }],
    ['a case variant, "Command"', { Command: 'abort' }],
    ['a non-string', { command: { line: 'enable' } }],
  ])('%s: the enable blocks, the reply is read right, the disable unblocks', async (_name, own) => {
    const run = await fx.execd.addLine('palisade-drop', withOwn('203.0.113.50', own));
    expect(fx.execd.timeouts.get(run.rkey)?.deleteLine).toMatch(/^\{"command":"disable",.*"command":"enable"\}$/);
    expect(run.decision).toBe('continue');
    expect(run.exitCode).toBe(0);
    expect(addresses()).toEqual(['203.0.113.50']);
    const disable = await fx.execd.expire(run.rkey);
    expect(disable.exitCode).toBe(0);
    expect(addresses()).toEqual([]);
    expect(fx.install.logRecords().map((record) => record.event)).toEqual(['blocked', 'unblocked']);
  });

  it('an abort that replaced the first command is an abort, though the last still reads enable', async () => {
    const first = await fx.execd.addLine('palisade-drop', withOwn('203.0.113.51', { command: 'ls' }, 600));
    const again = await fx.execd.addLine('palisade-drop', withOwn('203.0.113.51', { command: 'ls' }, 600));
    expect(again.replyLine).toMatch(/^\{"command":"abort",.*"command":"enable"\}$/);
    expect(again.exitCode).toBe(0);
    expect(logText().at(-1)).toBe('Aborted');
    expect(fx.install.logRecords().map((record) => record.event)).toEqual(['blocked', 'refreshed']);
    await fx.execd.expire(first.rkey);
  });
});

describe('bad 5.x documents change nothing and say why in Wazuh\'s words', () => {
  const ar = '"active_response":{"type":"stateful","stateful_timeout":60}';
  const cases: Array<[string, string, string]> = [
    ['neither dialect', '{"source":{"ip":"203.0.113.7"},"command":"enable"}', 'Invalid input format'],
    ['wazuh a string', '{"wazuh":"5.0","source":{"ip":"203.0.113.7"},"command":"enable"}', 'Invalid input format'],
    ['wazuh an array', '{"wazuh":[{"active_response":{}}],"source":{"ip":"203.0.113.7"},"command":"enable"}', 'Invalid input format'],
    ['wazuh null', '{"wazuh":null,"source":{"ip":"203.0.113.7"},"command":"enable"}', 'Invalid input format'],
    ['no command', `{"wazuh":{${ar}},"source":{"ip":"203.0.113.7"}}`, 'Invalid input format'],
    ['command a number', `{"wazuh":{${ar}},"source":{"ip":"203.0.113.7"},"command":1}`, 'Invalid input format'],
    ['command an object', `{"wazuh":{${ar}},"source":{"ip":"203.0.113.7"},"command":{"enable":true}}`, 'Invalid input format'],
    ['command __proto__', `{"wazuh":{${ar}},"source":{"ip":"203.0.113.7"},"command":"__proto__"}`, "Invalid value of 'command'"],
    ['command toString', `{"wazuh":{${ar}},"source":{"ip":"203.0.113.7"},"command":"toString"}`, "Invalid value of 'command'"],
    ['4.x verbs in a 5.x document', `{"wazuh":{${ar}},"source":{"ip":"203.0.113.7"},"command":"add"}`, "Invalid value of 'command'"],
    ['active_response a string', '{"wazuh":{"active_response":"block-ip"},"source":{"ip":"203.0.113.7"},"command":"enable"}', 'Invalid input format'],
    ['extra_arguments a list', '{"wazuh":{"active_response":{"extra_arguments":["--ttl","1h"]}},"source":{"ip":"203.0.113.7"},"command":"enable"}', 'Invalid input format'],
    ['extra_arguments a number', '{"wazuh":{"active_response":{"extra_arguments":5}},"source":{"ip":"203.0.113.7"},"command":"enable"}', 'Invalid input format'],
    ['source.ip a number', `{"wazuh":{${ar}},"source":{"ip":3405803783},"command":"enable"}`, "Cannot read 'source.ip' from data"],
    ['source.ip with a shell', `{"wazuh":{${ar}},"source":{"ip":"203.0.113.7; reboot"},"command":"enable"}`, "Cannot read 'source.ip' from data"],
    ['source a string', `{"wazuh":{${ar}},"source":"203.0.113.7","command":"enable"}`, "Cannot read 'source.ip' from data"],
    ['a 4.x envelope around a 5.x document is read as 5.x', `{"version":1,"parameters":{"alert":{"data":{"srcip":"203.0.113.8"}}},"wazuh":{${ar}},"command":"enable"}`, "Cannot read 'source.ip' from data"],
  ];

  it.each(cases)('%s', async (_name, line, wazuhMessage) => {
    const run = await fx.execd.sendAndWait('palisade-drop', `${line}\n`);
    expect(run.exitCode).toBe(255);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^palisade-drop: refused: /);
    expect(logText()).toContain(wazuhMessage);
    expect(logText().slice(0, 3)).toEqual(['Starting', line, '']);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ level: 'error', event: 'error' });
    expect(fx.install.stateEntries()).toEqual([]);
  });

  it.each([
    ['a document over 64 KiB', `{"wazuh":{${ar}},"event":{"original":"${'x'.repeat(70_000)}"},"source":{"ip":"203.0.113.7"},"command":"enable"}`],
    ['prototype keys in the finding', `{"__proto__":{"source":{"ip":"203.0.113.7"}},"wazuh":{"__proto__":{${ar}}},"constructor":{"prototype":{"command":"enable"}},"command":"enable"}`],
  ])('%s: refused or harmless, never a crash, never a block', async (_name, line) => {
    const run = await fx.execd.sendAndWait('palisade-drop', `${line}\n`);
    expect([255, 0]).toContain(run.exitCode);
    expect(run.stderr).not.toMatch(/    at |TypeError|RangeError/);
    expect(fx.install.stateEntries()).toEqual([]);
    expect(({} as Record<string, unknown>).source).toBeUndefined();
  });

  it('a finding with 10,000 nested arrays is read without a crash, and its address blocked', async () => {
    const line = `{"wazuh":{${ar}},"deep":${'['.repeat(10_000)}${']'.repeat(10_000)},"source":{"ip":"203.0.113.7"},"command":"enable"}`;
    const run = await fx.execd.addLine('palisade-drop', line);
    expect(run.exitCode).toBe(0);
    expect(fx.install.stateEntries()).toEqual([expect.objectContaining({ address: '203.0.113.7' })]);
  });

  it('a reply that is not execd\'s (another dialect, no verdict) is refused after check_keys, and nothing is blocked', async () => {
    const line = appendCommand(JSON.stringify(fx.execd.buildDocument5('palisade-drop', finding5('203.0.113.30'))), 'enable');
    for (const reply of ['{"version":1,"command":"continue","parameters":{}}', '{"command":"continue"}', appendCommand(JSON.stringify(finding5('203.0.113.30')), 'maybe')]) {
      const run = await fx.execd.answer('palisade-drop', line, reply);
      expect(run.stdout).toContain('"check_keys"');
      expect(run.exitCode).toBe(255);
    }
    expect(fx.install.stateEntries()).toEqual([]);
  });
});
