/**
 * palisade-notify through the execd stand-in, against a real HTTPS webhook on loopback that imitates Slack, Teams
 * Workflows or a generic JSON receiver (test/fixtures/http-firewall/webhook.ts). What the channel received is
 * what the assertions are about, and that the webhook URL, a credential, never reaches the log or stderr.
 */
import { chmodSync, chownSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Execd } from '../harness/execd.js';
import { finding5 } from '../harness/alerts.js';
import { createInstall, type Install } from '../harness/install.js';
import { startFirewallServer, type FirewallServer } from '../fixtures/http-firewall/server.js';
import { teamsSignature, webhookPath, type Delivery, type WebhookKind } from '../fixtures/http-firewall/webhook.js';

const command = 'palisade-notify';
const token = 'XoXbT0kEn5ecretW3bh00k9f2a';

const sshAlert = {
  timestamp: '2026-11-26T10:20:30.123+0000',
  rule: { level: 10, description: 'sshd: brute force trying to get access to the system. Authentication failed.', id: '5763', groups: ['syslog', 'sshd'] },
  agent: { id: '001', name: 'web01', ip: '10.0.0.5' },
  manager: { name: 'wazuh-manager' },
  id: '1795695630.123456',
  full_log: 'Nov 26 10:20:29 web01 sshd[4242]: Failed password for invalid user admin from 203.0.113.7 port 52514 ssh2',
  location: '/var/log/auth.log',
  data: { srcip: '203.0.113.7', srcport: '52514', srcuser: 'admin' },
};

let install: Install;
let execd: Execd;
let server: FirewallServer | undefined;
let urlFile: string;

const deliveries = () => (server?.rules() ?? []) as Delivery[];
const bodies = () => deliveries().map((delivery) => delivery.body as Record<string, unknown>);
const records = () => install.logRecords();
/** Everything a user or the manager could read: the log and what the command said on stderr. */
let stderrSeen = '';
const everything = () => `${readFileSync(install.logFile, 'utf8')}\n${stderrSeen}`;

async function startWebhook(kind: WebhookKind, settings = ''): Promise<FirewallServer> {
  await server?.close();
  server = await startFirewallServer('webhook', { token, webhook: kind });
  writeFileSync(urlFile, `${server.url}${webhookPath(kind, token)}\n`, { mode: 0o600 });
  install.writeConfig(`notify:\n  format: ${kind}\n  url_file: ${urlFile}\n  ca_file: ${server.caFile}\n${settings}`);
  return server;
}

async function notify(alert: unknown, extraArgs: string[] = []) {
  const run = await execd.add(command, alert, { timeout: 0, extraArgs, keepStdinOpen: true });
  stderrSeen += run.stderr;
  // Stateless: nothing on stdout, so execd reads end of file and sends no continue or abort.
  expect(run.keysLine).toBeUndefined();
  expect(run.decision).toBeUndefined();
  return run;
}

/** The webhook URL's secret parts: none may appear anywhere a person or the manager can read. */
function expectNoSecret(): void {
  const text = everything();
  expect(text).not.toContain(token);
  expect(text).not.toContain(teamsSignature(token));
  expect(text).not.toContain('/services/');
  expect(text).not.toContain('/workflows/');
}

beforeEach(() => {
  install = createInstall();
  urlFile = join(install.root, 'etc', 'notify.url');
  execd = new Execd(install);
  stderrSeen = '';
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  install.remove();
});

describe('posting an alert', () => {
  it('Slack: one attachment coloured by level, the rule, the log line and the fields, then exits with stdin left open', async () => {
    await startWebhook('slack');
    const run = await notify(sshAlert);
    expect(run.exitCode).toBe(0);
    expect(deliveries()).toHaveLength(1);
    expect(deliveries()[0]).toMatchObject({ contentType: 'application/json', authorization: undefined });
    expect(bodies()[0]).toEqual({
      attachments: [
        {
          fallback: 'Wazuh alert (level 10): sshd: brute force trying to get access to the system. Authentication failed. on (001) web01',
          color: 'danger',
          pretext: 'Wazuh alert',
          title: 'sshd: brute force trying to get access to the system. Authentication failed.',
          text: sshAlert.full_log,
          fields: [
            { title: 'Agent', value: '(001) web01', short: true },
            { title: 'Location', value: '/var/log/auth.log', short: true },
            { title: 'Rule', value: '5763 (level 10)', short: true },
            { title: 'Source address', value: '203.0.113.7', short: true },
          ],
          ts: 1795688430,
        },
      ],
    });
    // One record for the outcome, none per request.
    expect(records()).toHaveLength(1);
    const notified = records()[0]!;
    expect(notified).toMatchObject({ level: 'info', event: 'notified', format: 'slack', status: 200, attempts: 1, rule: { ruleId: '5763' } });
    expect(typeof notified.elapsed_ms).toBe('number');
    expect(install.logLines().at(-1)).toMatch(/palisade-notify: Ended$/);
    expect(run.stderr).toMatch(/posted the alert to the slack webhook: HTTP 200/);
    expectNoSecret();
  });

  it('Slack: colours follow wazuh-slack (good up to 4, warning to 7), and attacker text cannot mention or link', async () => {
    await startWebhook('slack');
    await notify({ ...sshAlert, rule: { ...sshAlert.rule, level: 3 } });
    await notify({ ...sshAlert, rule: { ...sshAlert.rule, level: 7 }, full_log: 'GET /<!channel> <https://evil.example|reset your password> & more' });
    const [low, medium] = bodies().map((body) => (body.attachments as Array<Record<string, unknown>>)[0]!);
    expect(low!.color).toBe('good');
    expect(medium!.color).toBe('warning');
    expect(medium!.text).toBe('GET /&lt;!channel&gt; &lt;https://evil.example|reset your password&gt; &amp; more');
  });

  it('Teams: an Adaptive Card in a message, styled by level, with the facts and the log in monospace', async () => {
    await startWebhook('teams');
    const run = await notify({ ...sshAlert, full_log: 'first line [click](https://evil.example) *bold*\nsecond line' });
    expect(run.exitCode).toBe(0);
    const [body] = bodies();
    expect(body).toMatchObject({ type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null }] });
    const card = (body!.attachments as Array<{ content: Record<string, unknown> }>)[0]!.content;
    expect(card).toMatchObject({ type: 'AdaptiveCard', version: '1.4', $schema: 'http://adaptivecards.io/schemas/adaptive-card.json' });
    expect(card.body).toEqual([
      {
        type: 'Container',
        style: 'attention',
        bleed: true,
        items: [
          { type: 'TextBlock', text: 'Wazuh alert · level 10', size: 'Small', weight: 'Bolder', wrap: true },
          { type: 'TextBlock', text: sshAlert.rule.description, size: 'Large', weight: 'Bolder', wrap: true },
        ],
      },
      {
        type: 'FactSet',
        facts: [
          { title: 'Agent', value: '(001) web01' },
          { title: 'Location', value: '/var/log/auth.log' },
          { title: 'Rule', value: '5763 (level 10)' },
          { title: 'Source address', value: '203.0.113.7' },
        ],
      },
      { type: 'TextBlock', text: 'first line \\[click\\](https://evil.example) \\*bold\\*\n\nsecond line', fontType: 'Monospace', size: 'Small', wrap: true },
    ]);
    expect(records().at(-1)).toMatchObject({ event: 'notified', format: 'teams', status: 202, attempts: 1 });
    expectNoSecret();
  });

  it('generic: the template filled from the alert, JSON values kept, missing fields null or empty, text escaped by JSON', async () => {
    const template = [
      '  template:',
      '    text: "Rule {rule.id} on {agent.name}: {rule.description}"',
      '    level: "{rule.level}"',
      '    data: "{data}"',
      '    missing: "{data.dstuser}"',
      '    inline_missing: "user=[{data.dstuser}]"',
      '    literal: "{ not a placeholder }"',
      '    nested: { list: ["{data.srcip}", 1, true] }',
      '',
    ].join('\n');
    await startWebhook('generic', template);
    const run = await notify({ ...sshAlert, rule: { ...sshAlert.rule, description: 'quote " backslash \\ newline \n end' } });
    expect(run.exitCode).toBe(0);
    expect(bodies()).toEqual([
      {
        text: 'Rule 5763 on web01: quote " backslash \\ newline \n end',
        level: 10,
        data: sshAlert.data,
        missing: null,
        inline_missing: 'user=[]',
        literal: '{ not a placeholder }',
        nested: { list: ['203.0.113.7', 1, true] },
      },
    ]);
    expect(records().at(-1)).toMatchObject({ event: 'notified', format: 'generic', status: 204 });
  });

  it('generic without a template: the usual fields, flat', async () => {
    await startWebhook('generic');
    await notify(sshAlert);
    expect(bodies()).toEqual([
      {
        title: sshAlert.rule.description,
        level: 10,
        rule_id: '5763',
        agent_id: '001',
        agent_name: 'web01',
        srcip: '203.0.113.7',
        location: '/var/log/auth.log',
        full_log: sshAlert.full_log,
        timestamp: sshAlert.timestamp,
        alert_id: sshAlert.id,
      },
    ]);
  });

  it('generic without a template, from a Wazuh 5.x finding: the same keys, from the finding\'s fields', async () => {
    await startWebhook('generic');
    const finding = finding5('203.0.113.7', { wazuh: { agent: { id: '001', name: 'web01' }, rule: { id: 'd5cc0e71', title: 'Failed authentication attempt', level: 'low' }, protocol: { location: 'journald' } } });
    const run = await execd.enable(command, finding, { type: 'stateless', keepStdinOpen: true });
    expect(run.exitCode).toBe(0);
    expect(bodies()).toEqual([
      {
        title: 'Failed authentication attempt',
        level: 'low',
        rule_id: 'd5cc0e71',
        agent_id: '001',
        agent_name: 'web01',
        srcip: '203.0.113.7',
        location: 'journald',
        full_log: 'Failed password for root from 203.0.113.7 port 50022 ssh2',
        timestamp: '2026-12-06T03:50:38.149Z',
        alert_id: null,
      },
    ]);
  });

  it('an alert missing almost everything, or holding the wrong types, still makes a message', async () => {
    await startWebhook('slack');
    for (const alert of [{}, null, { rule: { level: 'high', description: { nested: true } }, agent: 'web01', data: { srcip: 'not-an-address' }, full_log: 42 }]) {
      const run = await notify(alert);
      expect(run.exitCode).toBe(0);
    }
    const attachments = bodies().map((body) => (body.attachments as Array<Record<string, unknown>>)[0]);
    expect(attachments[0]).toEqual({ fallback: 'Wazuh alert: no rule description', pretext: 'Wazuh alert', title: 'no rule description', fields: [] });
    expect(attachments[1]).toEqual(attachments[0]);
    expect(attachments[2]).toEqual({ ...attachments[0], text: '42' });
    const teams = await startWebhook('teams');
    expect((await notify({})).exitCode).toBe(0);
    expect(teams.rules()).toHaveLength(1);
  });

  it('cuts a huge log line to a readable length', async () => {
    await startWebhook('slack');
    await notify({ ...sshAlert, full_log: 'x'.repeat(20_000) });
    const text = String((bodies()[0]!.attachments as Array<Record<string, unknown>>)[0]!.text);
    expect(text).toBe(`${'x'.repeat(1500)}… [18500 more characters]`);
  });

  it('--source-field names where the source address is', async () => {
    await startWebhook('slack');
    await notify({ rule: { id: '1' }, data: { client: '2001:0db8::0001' } }, ['--source-field', 'data.client']);
    const fields = (bodies()[0]!.attachments as Array<{ fields: unknown[] }>)[0]!.fields;
    expect(fields).toContainEqual({ title: 'Source address', value: '2001:db8::1', short: true });
  });
});

describe('a webhook that is slow, overloaded or wrong', () => {
  it('429 with Retry-After: waits as asked, then delivers once', async () => {
    const webhook = await startWebhook('slack');
    webhook.inject({ status: 429, headers: { 'retry-after': '1' }, body: 'rate_limited' });
    const run = await notify(sshAlert);
    expect(run.exitCode).toBe(0);
    expect(deliveries()).toHaveLength(1);
    const [first, second] = webhook.requests();
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(900);
    expect(records().at(-1)).toMatchObject({ event: 'notified', status: 200, attempts: 2 });
  });

  it('500 every time: gives up after max_attempts with one error record, exit 1', async () => {
    const webhook = await startWebhook('slack', '  max_attempts: 3\n');
    webhook.inject({ status: 500 }, { status: 500 }, { status: 500 });
    const run = await notify(sshAlert);
    expect(run.exitCode).toBe(1);
    expect(deliveries()).toHaveLength(0);
    expect(webhook.requests()).toHaveLength(3);
    const errors = records().filter((record) => record.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ event: 'error', status: 500, attempts: 3 });
    expect(String(errors[0]!.reason)).toMatch(/^slack: notify failed \(POST 127\.0\.0\.1:\d+\): gave up after 3 attempts: HTTP 500: "injected 500"/);
    expect(records().some((record) => record.event === 'notified')).toBe(false);
    expectNoSecret();
  });

  it('a hang costs notify.timeout, the next try delivers; a dead webhook is bounded by notify.budget', async () => {
    const webhook = await startWebhook('slack', '  timeout: 0.5\n  budget: 3\n');
    webhook.inject('hang');
    const slow = await notify(sshAlert);
    expect(slow.exitCode).toBe(0);
    expect(deliveries()).toHaveLength(1);
    expect(records().at(-1)).toMatchObject({ event: 'notified', attempts: 2 });

    webhook.inject('hang', 'hang', 'hang', 'hang', 'hang');
    const started = Date.now();
    const dead = await notify(sshAlert);
    const elapsed = Date.now() - started;
    expect(dead.exitCode).toBe(1);
    expect(deliveries()).toHaveLength(1);
    expect(String(records().at(-1)!.reason)).toMatch(/no answer from 127\.0\.0\.1:\d+ within 0\.5 s \(notify\.timeout\)/);
    // Measured, not asserted tightly: the budget plus one process start, far below the harness's patience.
    expect(elapsed).toBeLessThan(8000);
  });

  it('a wrong URL is the webhook\'s own 404, and the log still names only the host', async () => {
    const webhook = await startWebhook('slack');
    writeFileSync(urlFile, `${webhook.url}${webhookPath('slack', `${token}x`)}\n`, { mode: 0o600 });
    const run = await notify(sshAlert);
    expect(run.exitCode).toBe(1);
    expect(String(records().at(-1)!.reason)).toMatch(/HTTP 404: "no_service"/);
    expectNoSecret();
  });

  it('an untrusted certificate without ca_file fails at once with the fix, and sends nothing', async () => {
    const webhook = await startWebhook('slack');
    install.writeConfig(`notify:\n  format: slack\n  url_file: ${urlFile}\n`);
    const run = await notify(sshAlert);
    expect(run.exitCode).toBe(1);
    expect(webhook.requests()).toHaveLength(0);
    expect(records().at(-1)).toMatchObject({ event: 'error', attempts: 1 });
    expect(String(records().at(-1)!.reason)).toMatch(/TLS: the certificate of 127\.0\.0\.1:\d+ cannot be trusted .*set notify\.ca_file/);
  });
});

describe('the URL is a credential', () => {
  it('refuses a URL in extra_args, exit 1, sends nothing, and keeps the URL out of the log', async () => {
    const webhook = await startWebhook('slack');
    const pasted = `${webhook.url}${webhookPath('slack', token)}`;
    const run = await notify(sshAlert, [pasted]);
    expect(run.exitCode).toBe(1);
    expect(webhook.requests()).toHaveLength(0);
    expect(String(records().at(-1)!.reason)).toMatch(/<extra_args>: a URL is refused here.*notify\.url_file/);
    // The echoed message is Wazuh's log line; the URL in it is redacted.
    expect(install.logLines().some((line) => line.includes('"extra_args":["[redacted]"]'))).toBe(true);
    expectNoSecret();
  });

  it.each([
    ['as a flag\'s value', (url: string) => ['--ttl', '1h', `--url=${url}`]],
    ['as a key=value', (url: string) => ['--ttl', '1h', `url=${url}`]],
    ['quoted', (url: string) => ['--ttl', '1h', `"${url}"`]],
    ['in angle brackets', (url: string) => ['--ttl', '1h', `<${url}>`]],
    ['after other text', (url: string) => ['--ttl', '1h', `webhook:${url}`]],
    ['as the value of a known flag', (url: string) => ['--ttl', '1h', '--source-field', url]],
    ['without a scheme', (url: string) => ['--ttl', '1h', url.replace(/^https:\/\/[^/]+/, 'hooks.slack.com')]],
    ['as a host and port without a scheme', (url: string) => ['--ttl', '1h', url.replace(/^https:\/\//, '')]],
  ])('refuses a URL anywhere in an argument (%s) and keeps it out of the log', async (_form, spell) => {
    const webhook = await startWebhook('slack');
    const extraArgs = spell(`${webhook.url}${webhookPath('slack', token)}`);
    const run = await notify(sshAlert, extraArgs);
    expect(run.exitCode).toBe(1);
    expect(webhook.requests()).toHaveLength(0);
    expect(String(records().at(-1)!.reason)).toMatch(/<extra_args>: a URL is refused here.*notify\.url_file/);
    const echoed = JSON.stringify(extraArgs.map((arg) => (arg.includes(token) ? '[redacted]' : arg)));
    expect(install.logLines().some((line) => line.includes(`"extra_args":${echoed}`))).toBe(true);
    expectNoSecret();
  });

  it('refuses a url_file root does not own, even private to its owner', async () => {
    const webhook = await startWebhook('slack');
    chownSync(urlFile, 1000, 1000);
    const run = await notify(sshAlert);
    expect(run.exitCode).toBe(1);
    expect(String(records().at(-1)!.reason)).toBe(`notify.url_file ${urlFile} is owned by uid 1000, not root: whoever owns it can change what Palisade does as root: run chown root ${urlFile}`);
    expect(webhook.requests()).toHaveLength(0);
    expectNoSecret();
  });

  it('refuses a url_file others can read, and a url written in a config file others can read', async () => {
    const webhook = await startWebhook('slack');
    chmodSync(urlFile, 0o644);
    const open = await notify(sshAlert);
    expect(open.exitCode).toBe(1);
    expect(String(records().at(-1)!.reason)).toBe(`notify.url_file ${urlFile} is open to group or others (mode 0644); refusing to use a secret others can read: run chmod 600 ${urlFile}`);

    const configFile = join(install.root, 'etc', 'palisade.yml');
    install.writeConfig(`notify:\n  format: slack\n  url: ${webhook.url}${webhookPath('slack', token)}\n  ca_file: ${webhook.caFile}\n`);
    chmodSync(configFile, 0o644);
    const inline = await notify(sshAlert);
    expect(inline.exitCode).toBe(1);
    expect(String(records().at(-1)!.reason)).toMatch(/notify\.url is written in a config file open to group or others \(mode 0644\); chmod 600/);
    expect(webhook.requests()).toHaveLength(0);

    chmodSync(configFile, 0o600);
    expect((await notify(sshAlert)).exitCode).toBe(0);
    expect(deliveries()).toHaveLength(1);
    expectNoSecret();
  });

  it('refuses a url_file that does not hold an https URL, without quoting it', async () => {
    await startWebhook('slack');
    writeFileSync(urlFile, `http://127.0.0.1/services/${token}\n`, { mode: 0o600 });
    const run = await notify(sshAlert);
    expect(run.exitCode).toBe(1);
    expect(String(records().at(-1)!.reason)).toMatch(new RegExp(`^notify.url_file ${urlFile} must be an https:// URL`));
    expectNoSecret();
  });
});

describe('configuration and the other verbs', () => {
  it('without a notify: section, or with a bad one, fails with a line naming the fix', async () => {
    const missing = await notify(sshAlert);
    expect(missing.exitCode).toBe(1);
    expect(String(records().at(-1)!.reason)).toMatch(/needs a notify: section in etc\/palisade\.yml/);

    install.writeConfig(`notify:\n  format: slack\n  url_file: ${urlFile}\n  template: { text: "{rule.id}" }\n`);
    expect((await notify(sshAlert)).exitCode).toBe(1);
    expect(String(records().at(-1)!.reason)).toMatch(/notify\.template: a template applies to format generic only/);

    install.writeConfig(`notify:\n  format: generic\n  url_file: ${urlFile}\n  template: { text: "{rule..id}" }\n`);
    expect((await notify(sshAlert)).exitCode).toBe(1);
    expect(String(records().at(-1)!.reason)).toMatch(/notify\.template\.text: \{rule\.\.id\} is not a placeholder/);

    install.writeConfig(`notify:\n  format: discord\n  url_file: ${urlFile}\n`);
    expect((await notify(sshAlert)).exitCode).toBe(1);
    expect(String(records().at(-1)!.reason)).toMatch(/notify\.format/);
  });

  it('refuses options it has no use for', async () => {
    const webhook = await startWebhook('slack');
    const run = await notify(sshAlert, ['--ttl', '1h']);
    expect(run.exitCode).toBe(255);
    expect(String(records().at(-1)!.reason)).toMatch(/palisade-notify does not take --ttl/);
    expect(webhook.requests()).toHaveLength(0);
  });

  it('a delete (execd sends none for a stateless command, a person may) only logs that there is nothing to undo', async () => {
    const webhook = await startWebhook('slack');
    const run = await execd.delete(command, sshAlert);
    expect(run.exitCode).toBe(0);
    expect(webhook.requests()).toHaveLength(0);
    expect(records().at(-1)).toMatchObject({ level: 'info', event: 'nothing-to-undo' });
  });

  it('by hand: the echo test posts and says so; with stdin never closed it still exits, writing nothing to stdout', async () => {
    await startWebhook('slack');
    const line = `${JSON.stringify({ version: 1, command: 'add', parameters: { alert: sshAlert } })}\n`;
    const piped = await execd.pipeIn(command, line);
    expect(piped).toMatchObject({ exitCode: 0, stdout: '' });
    expect(piped.stderr).toMatch(/palisade-notify: posted the alert to the slack webhook: HTTP 200/);
    const held = await execd.sendAndWait(command, line);
    expect(held).toMatchObject({ exitCode: 0, stdout: '' });
    expect(deliveries()).toHaveLength(2);
    stderrSeen += piped.stderr + held.stderr;
    expectNoSecret();
  });
});
