/**
 * The binary runs as root (under execd, as /usr/sbin/palisade, from systemd units), so nothing in its
 * environment or its working directory may add code, flags, an inspector or trust to it. A stock compiled
 * Bun honours each of the variables below (measured on Bun 1.4.5: BUN_BE_BUN=1 turns it into the whole bun
 * CLI, BUN_OPTIONS preloads a file, BUN_INSPECT opens a debugger port); scripts/build/ makes the binary
 * deaf to them. One test per variable, each against the built binary, each showing the alert still handled.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Execd } from './harness/execd.js';
import { createInstall, type Install } from './harness/install.js';
import { startFirewallServer, type FirewallServer } from './fixtures/http-firewall/server.js';

let install: Install;
let scratch: string;
/** Written by any code an attack manages to run inside the binary. */
let marker: string;

beforeEach(() => {
  install = createInstall({ config: 'backend: dry-run\n' });
  scratch = join(install.root, '..', 'attack');
  mkdirSync(scratch);
  marker = join(scratch, 'ran-as-root');
});
afterEach(() => install.remove());

const markerScript = () => {
  const script = join(scratch, 'payload.js');
  writeFileSync(script, `require('node:fs').writeFileSync(${JSON.stringify(marker)}, String(process.getuid()));\n`);
  return script;
};

/** An add through the execd stand-in with `env` added to execd's own; the alert must be handled as usual. */
async function addWith(env: Record<string, string>, srcip = '198.51.100.20') {
  const run = await new Execd(install, { env }).add('palisade-drop', { data: { srcip } });
  expect(run.exitCode).toBe(0);
  expect(run.decision).toBe('continue');
  expect(install.logRecords()).toContainEqual(expect.objectContaining({ event: 'blocked', address: srcip, backend: 'dry-run' }));
  return run;
}

/** A listener (TCP on loopback, or a unix socket at `path`) that records whether anything connected to it. */
async function listener(path?: string): Promise<{ port: number; connected: () => boolean; close: () => Promise<void> }> {
  let connected = false;
  const server: Server = createServer((socket) => {
    connected = true;
    socket.destroy();
  });
  await new Promise<void>((resolve) => (path ? server.listen(path, resolve) : server.listen(0, '127.0.0.1', resolve)));
  const port = path ? 0 : (server.address() as { port: number }).port;
  return { port, connected: () => connected, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A port nothing listens on now: what BUN_INSPECT would open. */
async function freePort(): Promise<number> {
  const probe = await listener();
  await probe.close();
  return probe.port;
}

/** Whether a TCP connection to 127.0.0.1:port is accepted. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.connect(port, '127.0.0.1');
  });
}

describe('variables that would add code', () => {
  it('BUN_BE_BUN does not turn the binary into the bun CLI running the caller\'s -e code', async () => {
    const code = `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x')`;
    const child = spawn(install.commandPath('palisade'), ['-e', code], { env: { PATH: '/usr/bin:/bin', BUN_BE_BUN: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(existsSync(marker)).toBe(false);
    // Palisade's own CLI answered, refusing the option it does not know.
    expect(exitCode).not.toBe(0);
    expect(output).toMatch(/^palisade: /m);
    expect(output).not.toMatch(/Bun is a fast JavaScript runtime/);
    await addWith({ BUN_BE_BUN: '1' });
  });

  it('BUN_OPTIONS --preload runs nothing', async () => {
    await addWith({ BUN_OPTIONS: `--preload ${markerScript()}` });
    expect(existsSync(marker)).toBe(false);
  });

  it('BUN_INSPECT_PRELOAD runs nothing', async () => {
    await addWith({ BUN_INSPECT_PRELOAD: markerScript() });
    expect(existsSync(marker)).toBe(false);
  });

  it('NODE_OPTIONS --require runs nothing', async () => {
    await addWith({ NODE_OPTIONS: `--require ${markerScript()}` });
    expect(existsSync(marker)).toBe(false);
  });

  it('a bunfig.toml or .env in the working directory (execd runs us in the install dir) is not read', async () => {
    writeFileSync(join(install.root, 'bunfig.toml'), `preload = [${JSON.stringify(markerScript())}]\n`);
    writeFileSync(join(install.root, '.env'), 'BUN_OPTIONS=--preload ' + markerScript() + '\n');
    await addWith({});
    expect(existsSync(marker)).toBe(false);
  });

  it('BUN_JSC_* JavaScriptCore options are not taken from the environment (jitDumpDirectory would write files as root)', async () => {
    const dumps = join(scratch, 'dumps');
    mkdirSync(dumps);
    await addWith({ BUN_JSC_dumpDisassembly: '1', BUN_JSC_jitDumpDirectory: dumps, BUN_JSC_logJITCodeForPerf: '1', BUN_JSC_useJIT: 'definitely-not-a-value' });
    expect(readdirSync(dumps)).toEqual([]);
  });
});

describe('variables that would open an inspector (a debugger is code execution as root)', () => {
  it('BUN_INSPECT opens no port, even while the binary waits for execd', async () => {
    const port = await freePort();
    // The add waits for execd's reply to check_keys: the inspector would be listening by then.
    const child = spawn(install.commandPath('palisade-drop'), [], { cwd: install.root, env: { PATH: '/usr/bin:/bin', BUN_INSPECT: `127.0.0.1:${port}/palisade` }, stdio: ['pipe', 'pipe', 'ignore'] });
    child.stdin.write(`${JSON.stringify({ version: 1, command: 'add', parameters: { alert: { data: { srcip: '198.51.100.21' } } } })}\n`);
    await new Promise((resolve) => child.stdout.once('data', resolve));
    expect(await accepts(port)).toBe(false);
    child.stdin.end();
    await new Promise((resolve) => child.once('exit', resolve));
    await addWith({ BUN_INSPECT: `127.0.0.1:${port}/palisade` });
  });

  it('BUN_INSPECT_CONNECT_TO dials nobody', async () => {
    const debuggerSide = await listener();
    try {
      await addWith({ BUN_INSPECT_CONNECT_TO: `tcp://127.0.0.1:${debuggerSide.port}` });
      expect(debuggerSide.connected()).toBe(false);
    } finally {
      await debuggerSide.close();
    }
  });

  it('BUN_INSPECT_NOTIFY, with BUN_INSPECT, reports to nobody', async () => {
    const socket = join(scratch, 'notify.sock');
    const notified = await listener(socket);
    try {
      await addWith({ BUN_INSPECT: `127.0.0.1:${await freePort()}/x`, BUN_INSPECT_NOTIFY: `unix://${socket}` });
      expect(notified.connected()).toBe(false);
    } finally {
      await notified.close();
    }
  });
});

describe('TZ, which the log\'s time stamps follow as libc\'s do', () => {
  /** The Wazuh time stamp of the log's first line, as seconds since the epoch read as if it were UTC. */
  const firstStamp = () => {
    const [date, time] = install.logLines()[0]!.split(' ');
    return Date.parse(`${date!.replaceAll('/', '-')}T${time}Z`) / 1000;
  };

  it('a zone name shifts the time stamps by that zone\'s offset', async () => {
    const before = Math.floor(Date.now() / 1000);
    await addWith({ TZ: 'Asia/Kolkata' });
    expect(firstStamp() - before).toBeGreaterThanOrEqual(5.5 * 3600 - 1);
    expect(firstStamp() - before).toBeLessThanOrEqual(5.5 * 3600 + 30);
  });

  // A FIFO named by TZ is not tested: the runtime's own start (glibc's tzset) opens it before any code of
  // Palisade's runs, as every C program's localtime does, Wazuh's own ARs included.
  it('a file that is not a zone file, or none, means UTC, as in glibc', async () => {
    const notZone = join(scratch, 'not-a-zone');
    writeFileSync(notZone, 'TZif2 but nothing after it');
    for (const tz of [notZone, `:${join(scratch, 'missing')}`]) {
      writeFileSync(install.logFile, '');
      const before = Math.floor(Date.now() / 1000);
      await addWith({ TZ: tz });
      expect(firstStamp() - before, tz).toBeGreaterThanOrEqual(-1);
      expect(firstStamp() - before, tz).toBeLessThanOrEqual(30);
    }
  });
});

describe('variables that would change trust or leak a secret (the HTTP firewall backends)', () => {
  const token = 'tok-env-7c41d09a2b';
  let server: FirewallServer;
  beforeEach(async () => {
    server = await startFirewallServer('generic', { token });
  });
  afterEach(async () => server.close());

  /** An HTTP add whose config names no CA: the fixture's self-signed certificate must be refused. */
  async function httpAddWithout(env: Record<string, string>) {
    const tokenFile = join(install.root, 'etc', 'firewall.token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    install.writeConfig(`http:\n  preset: generic\n  url: ${server.url}\n  token_file: ${tokenFile}\n  max_attempts: 1\n`);
    const run = await new Execd(install, { env }).add('palisade-http-drop', { data: { srcip: '198.51.100.22' } });
    expect(run.exitCode).toBe(1);
    expect(server.rules()).toEqual([]);
    return run;
  }

  it('NODE_TLS_REJECT_UNAUTHORIZED=0 does not turn certificate checks off', async () => {
    await httpAddWithout({ NODE_TLS_REJECT_UNAUTHORIZED: '0' });
  });

  it('NODE_EXTRA_CA_CERTS adds no trusted CA', async () => {
    await httpAddWithout({ NODE_EXTRA_CA_CERTS: server.caFile });
  });

  it('SSL_CERT_FILE and SSL_CERT_DIR replace no trust store', async () => {
    await httpAddWithout({ SSL_CERT_FILE: server.caFile, SSL_CERT_DIR: join(server.caFile, '..') });
  });

  it('HTTPS_PROXY, HTTP_PROXY and ALL_PROXY see no API call', async () => {
    const proxy = await listener();
    try {
      const tokenFile = join(install.root, 'etc', 'firewall.token');
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
      install.writeConfig(`http:\n  preset: generic\n  url: ${server.url}\n  ca_file: ${server.caFile}\n  token_file: ${tokenFile}\n`);
      const url = `http://127.0.0.1:${proxy.port}`;
      const run = await new Execd(install, { env: { HTTPS_PROXY: url, https_proxy: url, HTTP_PROXY: url, ALL_PROXY: url } }).add('palisade-http-drop', { data: { srcip: '198.51.100.24' } });
      expect(run.exitCode).toBe(0);
      expect(server.rules()).toHaveLength(1);
      expect(proxy.connected()).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it('BUN_CONFIG_VERBOSE_FETCH prints no request, and so no Authorization header', async () => {
    const tokenFile = join(install.root, 'etc', 'firewall.token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    install.writeConfig(`http:\n  preset: generic\n  url: ${server.url}\n  ca_file: ${server.caFile}\n  token_file: ${tokenFile}\n`);
    const run = await new Execd(install, { env: { BUN_CONFIG_VERBOSE_FETCH: 'curl' } }).add('palisade-http-drop', { data: { srcip: '198.51.100.23' } });
    expect(run.exitCode).toBe(0);
    expect(server.rules()).toHaveLength(1);
    expect(run.stderr).not.toContain(token);
    expect(run.stderr).not.toMatch(/authorization/i);
  });
});
