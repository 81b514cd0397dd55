/**
 * Issue 17 against the real thing: Wazuh 5.0.0-beta4's own wazuh-execd (../shared/wazuh5-execd, built from
 * Wazuh's sources) runs palisade-drop on nftables in the protected namespace of a netns lab, fed datagrams as
 * 5.x's agentd feeds them; what is asserted is what an attacker's TCP connection meets, and what execd and
 * Palisade logged. Short stateful_timeouts keep the whole file to seconds.
 *
 * Skipped, with the reason in its name, only when ../shared/wazuh5-execd is not beside the checkout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Execd } from './harness/execd.js';
import { finding5 } from './harness/alerts.js';
import { createInstall, wazuhLogLine, type Install } from './harness/install.js';
import { createLab, type Lab } from './harness/netns.js';
import { RealExecd5, wazuh5Absent } from './harness/wazuh5-execd.js';

if (wazuh5Absent) console.warn(`test/wazuh5-execd.test.ts skipped: ${wazuh5Absent}`);

const title = wazuh5Absent ? `the real Wazuh 5.x execd (skipped: ${wazuh5Absent})` : 'the real Wazuh 5.x execd';

describe.skipIf(wazuh5Absent !== undefined)(title, () => {
  let lab: Lab;
  let install: Install;
  let execd: RealExecd5;
  /** Builds documents as 5.x's manager does (the simulator's buildDocument5); never runs anything. */
  let documents: Execd;

  beforeAll(async () => {
    lab = await createLab();
    install = createInstall({ config: `backend: nftables\nallowlist: [${lab.attacker4[2]}/32]\n` });
    documents = new Execd(install);
    execd = await RealExecd5.start(install, { netns: lab.protectedNs });
  });
  afterAll(async () => {
    await execd?.close();
    await lab?.destroy();
    install?.remove();
  });

  const document = (ip: string, ar: Parameters<Execd['buildDocument5']>[2], extra: Record<string, unknown> = {}) =>
    JSON.stringify(documents.buildDocument5('palisade-drop', finding5(ip, extra), ar));
  const records = () => install.logRecords();
  const last = (event: string, address: string) => records().filter((record) => record.event === event && record.address === address).at(-1);

  it('enable: execd runs palisade-drop with the finding, answers continue to its check_keys, and the attacker is cut off', async () => {
    const attacker = lab.attacker4[0];
    expect(await lab.canConnect(attacker)).toBe(true);
    await execd.send(document(attacker, { statefulTimeout: 3 }));
    await execd.wait(`Adding command 'active-response/bin/palisade-drop .*"command":"disable"\\}' to the timeout list, with a timeout of '3s'`, 'ossec');
    await execd.wait('palisade-drop: Ended$');
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(lab.attacker4[1])).toBe(true);
    expect(last('blocked', attacker)).toMatchObject({ backend: 'nftables', result: 'added', field: 'source.ip', ttl: 63, expiry: 'stateful_timeout+margin' });
    const lines = install.logLines().map((line) => line.replace(wazuhLogLine, ''));
    expect(lines.find((line) => line.includes('"command":"check_keys"'))).toBe(`{"version":1,"origin":{"name":"palisade-drop","module":"active-response"},"command":"check_keys","parameters":{"keys":["${attacker}"]}}`);
    expect(lines.some((line) => line.endsWith(',"command":"continue"}'))).toBe(true);
  });

  it('a repeat within stateful_timeout: execd answers abort, the block is renewed, and Aborted is logged', async () => {
    const attacker = lab.attacker4[0];
    await execd.send(document(attacker, { statefulTimeout: 3 }));
    await execd.wait('Command already received, updating time of addition to now.', 'ossec');
    await execd.wait('palisade-drop: Aborted$');
    expect(last('refreshed', attacker)).toMatchObject({ backend: 'nftables', result: 'present' });
    expect(await lab.canConnect(attacker, 500)).toBe(false);
  });

  it('stateful_timeout later: execd sends the first document with disable, and the attacker gets back in', async () => {
    const attacker = lab.attacker4[0];
    await execd.wait(`Executing command 'active-response/bin/palisade-drop .*"source":\\{"ip":"${attacker}".*"command":"disable"\\}' after a timeout of '3s'`, 'ossec', 15);
    await execd.wait('palisade-drop: Ended$');
    expect(last('unblocked', attacker)).toMatchObject({ backend: 'nftables', result: 'deleted' });
    expect(await lab.canConnect(attacker)).toBe(true);
  });

  it('stateless: continue every time, nothing scheduled, and the kernel keeps max_ttl', async () => {
    // IPv6, and it stays blocked: a dropped neighbour solicitation would make the lab's IPv6 slow to recover.
    const neighbour = lab.attacker6[2];
    for (let i = 0; i < 2; i++) {
      await execd.send(document(neighbour, { type: 'stateless', statefulTimeout: null }));
      await execd.wait('palisade-drop: Ended$');
    }
    expect(records().filter((record) => record.address === neighbour && record.event === 'blocked')).toHaveLength(2);
    expect(last('blocked', neighbour)).toMatchObject({ ttl: 604_800, expiry: 'max_ttl' });
    expect(await execd.ossecLog()).not.toMatch(new RegExp(`Adding command [^\\n]*${neighbour}`));
    expect(await lab.canConnect(neighbour, 500)).toBe(false);
  });

  it('a finding with its own "command": execd\'s verb is read each time (enable, continue, the timed disable)', async () => {
    // execd appends "command":"enable" after the finding's own; its reply and its disable replace the first.
    const [attacker, neighbour] = lab.attacker4;
    const withOwn = (ip: string, own: string) => `{"command":${JSON.stringify(own)},${document(ip, { statefulTimeout: 2 }).slice(1)}`;
    await execd.send(withOwn(attacker, 'ls -la /tmp'));
    await execd.wait('palisade-drop: \\{"command":"continue",.*"command":"enable"\\}$');
    await execd.wait('palisade-drop: Ended$');
    await execd.send(withOwn(neighbour, 'disable'));
    await execd.wait('palisade-drop: \\{"command":"continue",.*"command":"enable"\\}$');
    await execd.wait('palisade-drop: Ended$');
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(neighbour, 500)).toBe(false);

    for (const ip of [attacker, neighbour]) {
      await execd.wait(`Executing command 'active-response/bin/palisade-drop \\{"command":"disable",[^\\n]*"${ip}"[^\\n]*"command":"enable"\\}' after a timeout`, 'ossec', 15);
    }
    await execd.wait('palisade-drop: Ended$');
    await execd.wait('palisade-drop: Ended$');
    expect(last('unblocked', attacker)).toMatchObject({ result: 'deleted' });
    expect(last('unblocked', neighbour)).toMatchObject({ result: 'deleted' });
    expect(await lab.connectOutcome(attacker), 'the attacker after the disable').toBe('connected');
    expect(await lab.connectOutcome(neighbour), 'the neighbour after the disable').toBe('connected');
  });

  it('every run exited 0: execd logged no failure', async () => {
    expect(await execd.ossecLog()).not.toMatch(/reported failure|terminated abnormally/);
    expect(records().filter((record) => record.level === 'error')).toEqual([]);
  });

  it('shutdown: execd runs the pending disable before it exits, and the attacker gets back in', async () => {
    const attacker = lab.attacker4[0];
    await execd.send(document(attacker, { statefulTimeout: 600 }));
    await execd.wait(`Adding command '[^\\n]*"${attacker}"[^\\n]*' to the timeout list, with a timeout of '600s'`, 'ossec');
    await execd.wait('palisade-drop: Ended$');
    expect(last('blocked', attacker)).toMatchObject({ ttl: 660, expiry: 'stateful_timeout+margin' });
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await execd.stop()).toBe(1);
    const log = await execd.ossecLog();
    expect(log).toContain('Shutdown received. Deleting responses.');
    expect(log).toMatch(new RegExp(`Delete pending AR: 'active-response/bin/palisade-drop' '[^\\n]*"${attacker.replaceAll('.', '\\.')}"[^\\n]*"command":"disable"\\}'`));
    expect(last('unblocked', attacker)).toMatchObject({ result: 'deleted' });
    expect(await lab.canConnect(attacker)).toBe(true);
  });
});
