/**
 * Every active-response message example in Wazuh v5.0.0-beta4's docs and tests, through the execd harness, for
 * real: palisade-drop on nftables in the protected namespace of a netns lab, the kernel's blocks listed after
 * each step. Each example says where it comes from. Documents shown as the AR receives them (with "command")
 * are written as they are; documents shown as execd receives them (the unit and integration tests) get
 * execd's "command":"enable" appended first, as execd does.
 *
 * Left out, because they are no message: the schemas with placeholders ("string" | integer, "enable" | "disable"
 * is taken as its two messages), the check_keys examples (what the AR writes), and the migration guide's
 * wazuh-active-responses record (what the indexer stores).
 */
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { appendCommand, replaceCommand } from '../src/cli/execd-simulator.js';
import { backendRunnerArgv } from './harness/bundle.js';
import { wazuhLogLine } from './harness/install.js';
import { labAndInstall } from './harness/verbs.js';

const compact = (document: object) => JSON.stringify(document);

const readme = 'docs/ref/modules/active-response/README.md';
const executables = 'docs/ref/modules/active-response/executables.md';
const architecture = 'docs/ref/modules/active-response/architecture.md';
const migration = 'docs/guide/migration/active-response.md';
const unitTests = 'src/unit_tests/os_execd/test_execd.c';
const integration = 'tests/integration/test_execd/test_run_active_response/data/test_cases/cases_execd_block_ip.yaml';

const agent = { id: '001', name: 'test-agent' };
const blockIp = (type: string, extra: object = {}) => ({ name: 'block-ip', executable: 'block-ip', ...extra, type });

/** As the AR receives them: execd has appended its command. */
const received = {
  readmeEnable: compact({ wazuh: { active_response: blockIp('stateless', { location: 'defined-agent', agent_id: '001' }), agent }, source: { ip: '192.168.1.100' }, user: { name: 'username' }, command: 'enable' }),
  readmeDisable: compact({
    wazuh: { active_response: { ...blockIp('stateful', { location: 'defined-agent', agent_id: '001' }), stateful_timeout: 600 }, agent },
    source: { ip: '192.168.1.100' },
    user: { name: 'username' },
    command: 'disable',
  }),
  wcsMetadata: compact({ wazuh: { active_response: { ...blockIp('stateful'), stateful_timeout: 600 } }, source: { ip: '192.168.1.100' }, command: 'enable' }),
  blockIpInput: (command: string) => compact({ wazuh: { active_response: blockIp('stateless') }, source: { ip: '192.168.1.100' }, command }),
  migrationEnable: compact({
    wazuh: { active_response: { name: 'block-ip', executable: 'block-ip', location: 'defined-agent', agent_id: '001', type: 'stateless' }, agent },
    source: { ip: '192.168.1.100' },
    user: { name: 'username' },
    command: 'enable',
  }),
  migrationExtraArguments: compact({
    command: 'enable',
    source: { ip: '1.2.3.4' },
    wazuh: {
      active_response: { name: 'block-ssh-args-local', executable: 'block-ssh.sh', extra_arguments: '--severity high --queue urgent', type: 'stateful', stateful_timeout: 60, location: 'local' },
      agent: { id: '001', name: 'wazuh-agent' },
    },
  }),
};

/** As execd receives them from agentd: no command yet. */
const unitTestFinding = (type: string, ip: string, timeout?: number) =>
  compact({
    wazuh: { active_response: { name: 'block-ip', executable: 'block-ip', type, ...(timeout !== undefined ? { stateful_timeout: timeout } : {}), location: 'agent', agent_id: '001' } },
    event: { original: 'Test event', kind: 'event' },
    source: { ip },
    user: { name: 'root' },
  });
const integrationFinding = (wazuh: object | undefined, source: object | undefined) =>
  compact({ ...(wazuh ? { wazuh } : {}), event: { original: 'Test event', kind: 'event' }, ...(source ? { source } : {}), user: { name: 'Test.' } });
const asExecdSends = (document: string) => appendCommand(document, 'enable');

const fx = labAndInstall('backend: nftables\n');
// Each example starts from an empty firewall and a fresh fx.execd, and leaves one.
afterEach(async () => {
  fx.execd.timeouts.clear();
  for (const address of await kernelBlocks()) {
    await fx.execd.deleteLine('palisade-drop', compact({ wazuh: {}, source: { ip: address }, command: 'disable' }));
  }
  expect(await kernelBlocks()).toEqual([]);
});

const kernelBlocks = async () => {
  const argv = fx.lab.inNs(fx.lab.protectedNs, await backendRunnerArgv('nftables', 'list', { config: { backend: 'nftables' } }));
  const { stdout } = await execa(argv[0]!, argv.slice(1));
  return (JSON.parse(stdout) as { outcome: Array<{ address: string }> }).outcome.map((block) => block.address).sort();
};
const logText = () => fx.install.logLines().map((line) => line.replace(wazuhLogLine, ''));

describe('the docs', () => {
  it(`${readme} "Enable Command" (stateless): blocks 192.168.1.100 until max_ttl`, async () => {
    const run = await fx.execd.addLine('palisade-drop', received.readmeEnable);
    expect(run.decision).toBe('continue');
    expect(run.exitCode).toBe(0);
    expect(await kernelBlocks()).toEqual(['192.168.1.100']);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'blocked', address: '192.168.1.100', expiry: 'max_ttl' });
  });

  it(`${readme} "Disable Command" (stateful, 600 s): lifts the block its enable made`, async () => {
    const enable = await fx.execd.addLine('palisade-drop', replaceCommand(received.readmeDisable, 'enable'));
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'blocked', ttl: 660, expiry: 'stateful_timeout+margin' });
    expect(await kernelBlocks()).toEqual(['192.168.1.100']);
    const deleted = await fx.execd.deleteLine('palisade-drop', received.readmeDisable);
    expect(deleted.exitCode).toBe(0);
    expect(await kernelBlocks()).toEqual([]);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'unblocked', address: '192.168.1.100', result: 'deleted' });
    expect(enable.exitCode).toBe(0);
  });

  it(`${readme} "WCS Metadata Format" and ${architecture}'s example (stateful, 600 s): blocks; a repeat is aborted`, async () => {
    expect((await fx.execd.addLine('palisade-drop', received.wcsMetadata)).decision).toBe('continue');
    const again = await fx.execd.addLine('palisade-drop', received.wcsMetadata);
    expect(again.decision).toBe('abort');
    expect(logText().at(-1)).toBe('Aborted');
    expect(await kernelBlocks()).toEqual(['192.168.1.100']);
    await fx.execd.expire(again.rkey);
    expect(await kernelBlocks()).toEqual([]);
  });

  it(`${executables} block-ip's input (Linux, macOS, Windows), "enable" then "disable"`, async () => {
    expect((await fx.execd.addLine('palisade-drop', received.blockIpInput('enable'))).exitCode).toBe(0);
    expect(await kernelBlocks()).toEqual(['192.168.1.100']);
    expect((await fx.execd.deleteLine('palisade-drop', received.blockIpInput('disable'))).exitCode).toBe(0);
    expect(await kernelBlocks()).toEqual([]);
  });

  it(`${migration} "JSON stdin contract", 5.x: blocks 192.168.1.100`, async () => {
    expect((await fx.execd.addLine('palisade-drop', received.migrationEnable)).exitCode).toBe(0);
    expect(await kernelBlocks()).toEqual(['192.168.1.100']);
  });

  it(`${migration} "Example 2" (extra_arguments "--severity high --queue urgent"): refused by name, nothing blocked`, async () => {
    const run = await fx.execd.addLine('palisade-drop', received.migrationExtraArguments);
    expect(run.exitCode).toBe(1);
    expect(run.keysLine).toBeUndefined();
    expect(String(fx.install.logRecords().at(-1)!.reason)).toBe(
      'wazuh.active_response.extra_arguments: unknown option "--severity" in extra_args (known: --source-field, --backend, --ttl, --reject)',
    );
    expect(await kernelBlocks()).toEqual([]);
  });

  it(`${executables} disable-account's input: palisade-disable-account reads user.name, and leaves an unknown account alone`, async () => {
    for (const command of ['enable', 'disable']) {
      const line = compact({ wazuh: { active_response: { name: 'disable-account', executable: 'disable-account', type: 'stateless' } }, user: { name: 'suspicious_user' }, command });
      const run = command === 'enable' ? await fx.execd.addLine('palisade-disable-account', line) : await fx.execd.deleteLine('palisade-disable-account', line);
      expect(run.exitCode).toBe(0);
    }
    const records = fx.install.logRecords().slice(-2);
    expect(records[0]).toMatchObject({ event: 'skipped-protected', reason: 'there is no local account named suspicious_user' });
    expect(records[1]).toMatchObject({ event: 'account-unlocked', user: 'suspicious_user', result: 'absent' });
  });
});

describe(`the unit tests (${unitTests})`, () => {
  it('test_ExecdStart_ok (stateless, 10.0.0.1): continue, blocked', async () => {
    const run = await fx.execd.addLine('palisade-drop', asExecdSends(unitTestFinding('stateless', '10.0.0.1')));
    expect(run.keysLine).toBe('{"version":1,"origin":{"name":"palisade-drop","module":"active-response"},"command":"check_keys","parameters":{"keys":["10.0.0.1"]}}');
    expect(run.replyLine).toBe(asExecdSends(unitTestFinding('stateless', '10.0.0.1')).replace('"enable"}', '"continue"}'));
    expect(await kernelBlocks()).toEqual(['10.0.0.1']);
  });

  it('test_ExecdStart_timeout_not_repeated (stateful, 10 s, 10.0.0.2): blocked for 10 s + the margin, lifted by the disable', async () => {
    const run = await fx.execd.addLine('palisade-drop', asExecdSends(unitTestFinding('stateful', '10.0.0.2', 10)));
    expect(fx.execd.timeouts.get(run.rkey)).toMatchObject({ timeout: 10 });
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'blocked', ttl: 70, expiry: 'stateful_timeout+margin' });
    expect(await kernelBlocks()).toEqual(['10.0.0.2']);
    await fx.execd.expire(run.rkey);
    expect(await kernelBlocks()).toEqual([]);
  });

  it('test_ExecdStart_timeout_repeated (stateful, 10 s, 10.0.0.1 twice): abort, still one block', async () => {
    const line = asExecdSends(unitTestFinding('stateful', '10.0.0.1', 10));
    await fx.execd.addLine('palisade-drop', line);
    const again = await fx.execd.addLine('palisade-drop', line);
    expect(again.decision).toBe('abort');
    expect(await kernelBlocks()).toEqual(['10.0.0.1']);
    await fx.execd.expire(again.rkey);
  });

  it.each([
    ['test_ExecdStart_get_name_err', '{}'],
    ['test_ExecdStart_json_err', 'unknown'],
  ])('%s (%s): execd refuses it; given to the AR anyway, "Invalid input format" and nothing blocked', async (_name, document) => {
    const line = document === '{}' ? asExecdSends(document) : document;
    const run = await fx.execd.sendAndWait('palisade-drop', `${line}\n`);
    expect(run.exitCode).toBe(255);
    expect(logText()).toContain('Invalid input format');
    expect(await kernelBlocks()).toEqual([]);
  });
});

describe(`the integration tests (${integration})`, () => {
  const ar = (type: string, timeout?: number) => ({ active_response: { name: 'block-ip', executable: 'block-ip', type, ...(timeout ? { stateful_timeout: timeout } : {}), location: 'agent', agent_id: '001' } });

  it('"Command execution succeed" (stateful, 5 s, 3.3.3.3): blocked, and lifted by the disable', async () => {
    const run = await fx.execd.addLine('palisade-drop', asExecdSends(integrationFinding(ar('stateful', 5), { ip: '3.3.3.3' })));
    expect(run.decision).toBe('continue');
    expect(await kernelBlocks()).toEqual(['3.3.3.3']);
    await fx.execd.expire(run.rkey);
    expect(await kernelBlocks()).toEqual([]);
  });

  it('"missing \'source.ip\'": refused in block-ip\'s words, nothing blocked', async () => {
    const run = await fx.execd.addLine('palisade-drop', asExecdSends(integrationFinding(ar('stateless'), undefined)));
    expect(run.exitCode).toBe(255);
    expect(logText()).toContain("Cannot read 'source.ip' from data");
    expect(await kernelBlocks()).toEqual([]);
  });

  it('"invalid format no wazuh": execd refuses it (1316); given to the AR anyway, "Invalid input format"', async () => {
    const run = await fx.execd.sendAndWait('palisade-drop', `${asExecdSends(integrationFinding(undefined, { ip: '3.3.3.3' }))}\n`);
    expect(run.exitCode).toBe(255);
    expect(logText()).toContain('Invalid input format');
    expect(await kernelBlocks()).toEqual([]);
  });

  it('"invalid format no active_response": execd refuses it (1316); the AR, like Wazuh\'s library, needs only the wazuh object: stateless, max_ttl', async () => {
    const run = await fx.execd.addLine('palisade-drop', asExecdSends(integrationFinding({}, { ip: '3.3.3.3' })));
    expect(run.exitCode).toBe(0);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'blocked', address: '3.3.3.3', expiry: 'max_ttl' });
    expect(await kernelBlocks()).toEqual(['3.3.3.3']);
  });
});
