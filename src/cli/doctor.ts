/**
 * `palisade doctor`: every reason an active response silently does nothing, each checked by a small
 * function that returns findings (ok, warn, fail) whose message says what is wrong and how to fix it.
 * Read-only: it changes nothing. Exit status 1 when any check fails; warnings alone exit 0.
 */
import { accessSync, constants, existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { BackendFinding } from '../backends/backend.js';
import { onPath } from '../backends/detect.js';
import { reconcileFix } from '../backends/health.js';
import { secretFileProblem } from '../runtime/http-secrets.js';
import { commandNames, commands } from '../commands/index.js';
import { ConfigError, configPath, fleetConfigPath, type Config, type LoadedConfig } from '../runtime/config.js';
import { runTool } from '../runtime/exec.js';
import { refusedByReason } from '../runtime/fleet-config.js';
import { binDir } from '../runtime/install-dir.js';
import { createLogger } from '../runtime/log.js';
import { nowSeconds } from '../runtime/duration.js';
import { StateStore, stateDir, type StateEntry } from '../runtime/state.js';
import { trustProblem } from '../runtime/trusted-file.js';
import type { CliContext } from './context.js';
import { backendsInUse, compare, explainBackend, readFirewall, type FirewallView } from './inspect.js';
import { describeVariant } from './iptables-variant.js';

export type FindingStatus = 'ok' | 'warn' | 'fail';

export interface Finding {
  check: string;
  status: FindingStatus;
  message: string;
  /** What to do, when something is wrong. */
  fix?: string;
}

interface Doctor {
  installDir: string;
  bin: string;
  config: Config | undefined;
  /** The same config with the layer of each value; undefined when it is invalid. */
  layered: LoadedConfig | undefined;
  configError: string | undefined;
  entries: StateEntry[];
  /** Lines of the bulk files that reading the state had to leave out ("…/nftables.bulk:12"). */
  damagedLines: string[];
  /** What each backend in use holds and says of its health, read once for the checks that print it. */
  firewalls?: Promise<FirewallView[]>;
}

const finding = (check: string, status: FindingStatus, message: string, fix?: string): Finding => ({ check, status, message, ...(fix ? { fix } : {}) });
const octal = (mode: number) => `0${(mode & 0o7777).toString(8)}`;

function statOrUndefined(path: string, follow = true): Stats | undefined {
  try {
    return follow ? statSync(path) : lstatSync(path);
  } catch {
    return undefined;
  }
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** execd (root) runs this file for every alert: nobody but root may be able to change it, and it must run. */
function checkBinary({ bin }: Doctor): Finding[] {
  const path = join(bin, 'palisade');
  const stats = statOrUndefined(path);
  if (!stats) return [finding('binary', 'fail', `${path} is missing`, 'reinstall the palisade package')];
  const found: Finding[] = [];
  if (stats.uid !== 0) {
    found.push(finding('binary', 'fail', `${path} is owned by uid ${stats.uid}, not root: that user can change what root runs on every alert`, `chown root:wazuh ${path}`));
  }
  if ((stats.mode & 0o100) === 0) {
    found.push(finding('binary', 'fail', `${path} is not executable (mode ${octal(stats.mode)}): execd's exec fails and nothing is ever logged`, `chmod 0750 ${path}`));
  }
  if ((stats.mode & 0o022) !== 0) {
    found.push(finding('binary', 'fail', `${path} is writable by group or others (mode ${octal(stats.mode)}): they can change what root runs`, `chmod 0750 ${path}`));
  }
  return found.length > 0 ? found : [finding('binary', 'ok', `${path}: owned by root, mode ${octal(stats.mode)}`)];
}

/** Every command name must be a link to the binary: execd runs active-response/bin/<executable>. */
function checkLinks({ bin }: Doctor): Finding[] {
  const binary = statOrUndefined(join(bin, 'palisade'));
  const found: Finding[] = [];
  for (const name of commandNames) {
    const path = join(bin, name);
    const stats = statOrUndefined(path);
    if (!stats) {
      found.push(finding('links', 'fail', `${path} is missing: execd logs "Active response command not present" and never runs ${name}`, `ln -f ${join(bin, 'palisade')} ${path}`));
    } else if (binary && (stats.ino !== binary.ino || stats.dev !== binary.dev)) {
      found.push(finding('links', 'warn', `${path} is not the same file as palisade (an older copy?): it runs another version`, `ln -f ${join(bin, 'palisade')} ${path}`));
    }
  }
  if (found.length === 0) found.push(finding('links', 'ok', `all ${commandNames.length} command links are the palisade binary`));
  const sbin = '/usr/sbin/palisade';
  let target: string | undefined;
  try {
    target = realpathSync(sbin);
  } catch {
    found.push(finding('links', 'warn', `${sbin} is missing: palisade must be called by its full path`, `ln -s ${join(bin, 'palisade')} ${sbin}`));
  }
  if (target !== undefined && target !== realpathSync(join(bin, 'palisade'))) {
    found.push(finding('links', 'warn', `${sbin} leads to ${target}, not to this install's binary`, `ln -sf ${join(bin, 'palisade')} ${sbin}, or use --root`));
  }
  return found;
}

interface XmlBlock {
  [tag: string]: string | undefined;
}

/** The blocks `<tag>...</tag>` of an XML text (comments removed), each as its child elements' texts. */
function xmlBlocks(text: string, tag: string): XmlBlock[] {
  const clean = text.replace(/<!--[\s\S]*?-->/g, '');
  return [...clean.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((match) => {
    const block: XmlBlock = {};
    for (const child of (match[1] ?? '').matchAll(/<([a-z_]+)>\s*([^<]*?)\s*<\/\1>/g)) block[child[1]!] = child[2];
    return block;
  });
}

/**
 * ossec.conf (on a manager, the <command> definitions; on an agent, <active-response><disabled>) and
 * etc/shared/ar.conf (what the manager pushed to this agent: `name - executable - timeout` per line).
 */
async function checkRegistration({ installDir, bin }: Doctor): Promise<Finding[]> {
  const found: Finding[] = [];
  const ossecPath = join(installDir, 'etc/ossec.conf');
  const arPath = join(installDir, 'etc/shared/ar.conf');
  const ossec = readOrUndefined(ossecPath);
  const ar = readOrUndefined(arPath);
  if (ossec === undefined && ar === undefined) {
    return [finding('registration', 'warn', `neither ${ossecPath} nor ${arPath} exists: is ${installDir} the Wazuh install dir?`, 'give the install dir with --root')];
  }
  // What each command is decides what its registration must be: a timer only matters to one that is undone.
  const kinds = new Map(await Promise.all(commandNames.map(async (name) => [name, await commands[name]!()] as const)));
  const registered = new Map<string, string[]>();
  const note = (executable: string, where: string) => registered.set(executable, [...(registered.get(executable) ?? []), where]);

  if (ossec !== undefined) {
    const commands = xmlBlocks(ossec, 'command');
    for (const command of commands) {
      const executable = command.executable ?? '';
      if (!executable.startsWith('palisade')) continue;
      note(executable, 'ossec.conf');
      if (!existsSync(join(bin, executable))) {
        found.push(finding('registration', 'fail', `ossec.conf's <command> ${command.name} runs ${executable}, which is not in ${bin}: execd logs "Active response command not present"`, `install palisade on this host, or fix <executable>`));
      }
      if (command.timeout_allowed !== 'yes') {
        found.push(finding('registration', 'warn', `<command> ${command.name} lacks <timeout_allowed>yes</timeout_allowed>: execd never sends the delete, so its blocks last max_ttl`, `add <timeout_allowed>yes</timeout_allowed> to it in ossec.conf`));
      }
    }
    const defined = new Set(commands.map((command) => command.name));
    for (const response of xmlBlocks(ossec, 'active-response')) {
      if (response.disabled === 'yes') {
        found.push(finding('registration', 'fail', `${ossecPath} has <active-response><disabled>yes</disabled>: execd runs no active response on this host`, 'set <disabled>no</disabled> and restart the agent'));
      }
      const name = response.command;
      if (name?.startsWith('palisade') && commands.length > 0 && !defined.has(name)) {
        found.push(finding('registration', 'fail', `<active-response> uses command ${name}, which no <command> block defines: the manager refuses it`, `add a <command> block for ${name} (README: Register a command)`));
      }
    }
  }
  if (ar !== undefined) {
    for (const line of ar.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const [name, executable, timeout] = line.split(' - ');
      if (!executable?.startsWith('palisade')) continue;
      note(executable, 'ar.conf');
      if (executable.includes('..') || !existsSync(join(bin, executable))) {
        found.push(finding('registration', 'fail', `ar.conf's ${name} runs ${executable}, which is not in ${bin}: execd logs "Active response command not present"`, `install palisade on this agent, or fix the manager's <command> block`));
      } else if (Number(timeout) === 0 && kinds.get(executable)?.stateful !== false) {
        found.push(finding('registration', 'warn', `ar.conf's ${name} has timeout 0: execd never sends the delete, so its blocks last max_ttl`, 'give the <active-response> block a <timeout> on the manager'));
      }
    }
  }
  // The `!` form runs an API-only command without any entry: its absence is no fault.
  const missing = commandNames.filter((name) => !registered.has(name) && !kinds.get(name)?.apiOnly);
  const present = commandNames.filter((name) => registered.has(name));
  if (present.length > 0) found.push(finding('registration', 'ok', `registered: ${present.map((name) => `${name} (${registered.get(name)!.join(', ')})`).join(', ')}`));
  if (missing.length > 0) {
    found.push(
      finding(
        'registration',
        'warn',
        `not registered in ossec.conf or ar.conf, so never run: ${missing.join(', ')}`,
        "to use one, add its <command> and <active-response> blocks to the manager's ossec.conf (README: Register a command)",
      ),
    );
  }
  return found;
}

/** Wazuh's decoders read our records from this file; a command that cannot write it leaves no trace. */
function checkLog({ installDir }: Doctor): Finding[] {
  const path = join(installDir, 'logs/active-responses.log');
  const target = existsSync(path) ? path : join(installDir, 'logs');
  try {
    accessSync(target, constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const fix = code === 'ENOENT' ? `mkdir -p ${join(installDir, 'logs')} && chown root:wazuh ${join(installDir, 'logs')} && chmod 0770 ${join(installDir, 'logs')}` : `chown root:wazuh ${path} && chmod 0660 ${path}`;
    return [finding('log', 'fail', `${target} is not writable (${code}): AR commands leave no record`, fix)];
  }
  const stats = statOrUndefined(path);
  if (stats && !stats.isFile()) return [finding('log', 'fail', `${path} is not a regular file`, `move it away; the agent creates the log again`)];
  return [finding('log', 'ok', `${path} is writable`)];
}

function checkConfig({ installDir, configError }: Doctor): Finding[] {
  const path = configPath(installDir);
  const stats = statOrUndefined(path);
  const untrusted = stats && trustProblem(stats, path, path);
  if (untrusted) return [finding('config', 'fail', `${untrusted.problem}; every AR command refuses to run until it is fixed`, untrusted.fix)];
  if (configError) return [finding('config', 'fail', `${configError}: every AR command refuses to run until it is fixed`, `edit ${path}; the message names the key`)];
  if (!stats) return [finding('config', 'ok', `no ${path}: the defaults apply`)];
  return [finding('config', 'ok', `${path} is valid`)];
}

/**
 * The fleet layer (etc/shared/palisade.yml, fleet-config.ts): whether it is read, what it set, what it
 * refused, and which layer every value that is not a default comes from.
 */
function checkFleet({ installDir, layered }: Doctor): Finding[] {
  if (!layered) return [];
  const { fleet } = layered;
  const path = fleetConfigPath(installDir);
  const onManager = "edit the group's palisade.yml on the manager (/var/ossec/etc/shared/<group>/palisade.yml)";
  if (!fleet) {
    const there = statOrUndefined(path, false) ? `${path} exists but is not read` : `${path} is not read`;
    return [finding('fleet', 'ok', `fleet layer off: ${there} (fleet_config: true in palisade.yml turns it on)`)];
  }
  if (!fleet.present) return [finding('fleet', 'ok', `fleet layer on: there is no ${path} (no agent group pushes one); ${describeLayers(layered)}`)];
  if (fleet.error !== undefined) return [finding('fleet', 'warn', `fleet layer on: ${path} is ignored, as ${fleet.error}; palisade.yml and the defaults apply`, onManager)];
  const found: Finding[] = [];
  const overridden = fleet.overridden.length > 0 ? `; palisade.yml also sets ${fleet.overridden.join(', ')}, and its value holds` : '';
  const sets = fleet.applied.length > 0 ? `sets ${fleet.applied.join(', ')}` : 'sets nothing';
  found.push(finding('fleet', 'ok', `fleet layer on: ${path} ${sets}${overridden}; ${describeLayers(layered)}`));
  for (const { reason, keys } of refusedByReason(fleet)) found.push(finding('fleet', 'warn', `fleet layer: ${path} refused ${keys.join(', ')}: ${reason}`, onManager));
  return found;
}

/** "from palisade.yml: backend, fleet_config; from the fleet layer: max_ttl; allowlist: 1 from palisade.yml, 2 from the fleet layer; the rest: defaults" */
function describeLayers({ sources, allowlistSources }: LoadedConfig): string {
  const keysFrom = (layer: 'local' | 'fleet') => Object.keys(sources).filter((key) => key !== 'allowlist' && sources[key] === layer);
  const count = (layer: 'local' | 'fleet') => allowlistSources.filter((source) => source === layer).length;
  const parts = [
    keysFrom('local').length > 0 ? `from palisade.yml: ${keysFrom('local').join(', ')}` : undefined,
    keysFrom('fleet').length > 0 ? `from the fleet layer: ${keysFrom('fleet').join(', ')}` : undefined,
    allowlistSources.length > 0 ? `allowlist: ${count('local')} entr${count('local') === 1 ? 'y' : 'ies'} from palisade.yml, ${count('fleet')} from the fleet layer` : undefined,
  ].filter((part) => part !== undefined);
  return [...parts, 'the rest: defaults'].join('; ');
}

/** The secret files palisade.yml names: the AR commands refuse one that is not root's alone (runtime/http-secrets.ts). */
function checkSecrets({ config }: Doctor): Finding[] {
  const named: Array<[string, string | undefined]> = [
    ['http.token_file', config?.http && 'token_file' in config.http ? config.http.token_file : undefined],
    ['http.secret_file', config?.http && 'secret_file' in config.http ? config.http.secret_file : undefined],
    ['notify.url_file', config?.notify?.url_file],
  ];
  return named
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([option, path]) => {
      const problem = secretFileProblem(path, `${option} ${path}`);
      return problem ? finding('secrets', 'fail', problem.problem, problem.fix) : finding('secrets', 'ok', `${option} ${path} is root's alone`);
    });
}

/** Each backend in use, read once: what it holds, and what it says of its tools, tables and rules. */
function readFirewalls(doctor: Doctor, config: Config): Promise<FirewallView[]> {
  const env = { name: 'palisade', installDir: doctor.installDir, config, log: createLogger({ path: undefined, argv0: 'palisade' }) };
  const state = new StateStore(stateDir(doctor.installDir));
  const backends = backendsInUse(doctor.entries, explainBackend(config));
  return (doctor.firewalls ??= Promise.all(backends.map((backend) => readFirewall(env, state, backend, { inspect: true }))));
}

/** What a backend found, as doctor prints it. */
const fromBackend = (found: BackendFinding): Finding => finding(found.check, found.status, found.message, found.fix);

/** A backend's findings under one heading. */
const findingsOf = (view: FirewallView | undefined, check: BackendFinding['check']): Finding[] =>
  (view?.inspection?.findings ?? []).filter((found) => found.check === check).map(fromBackend);

/** The tool behind each backend in use is there and answers, as the backend itself checks it. */
async function checkBackends(doctor: Doctor): Promise<Finding[]> {
  if (!doctor.config) return [];
  const config = doctor.config;
  const choice = explainBackend(config);
  const found: Finding[] = [];
  if (!choice.backend) return [finding('backend', 'fail', choice.reason, 'apt install nftables (or dnf install nftables), or set backend: in palisade.yml')];
  found.push(finding('backend', choice.backend === 'dry-run' ? 'warn' : 'ok', `new blocks go to ${choice.backend} (${choice.reason})${choice.backend === 'dry-run' ? ': dry-run changes nothing, blocks are only logged' : ''}`, choice.backend === 'dry-run' ? 'set backend: in palisade.yml' : undefined));
  for (const view of await readFirewalls(doctor, config)) {
    if (view.backend === 'http' && !config.http) found.push(finding('backend', 'fail', 'backend http has no http: section in palisade.yml', 'add http: (preset, url, credentials) to palisade.yml'));
    found.push(...findingsOf(view, 'backend'));
  }
  return found;
}

/** Blocks the state says are active must be in the firewall; each backend's own tables must be as configured. */
async function checkFirewall(doctor: Doctor): Promise<Finding[]> {
  if (!doctor.config) return [];
  const found: Finding[] = [];
  const active = doctor.entries.filter((entry) => entry.expiresAt > nowSeconds());
  const views = await readFirewalls(doctor, doctor.config);
  for (const view of views) found.push(...findingsOf(view, 'firewall'));
  for (const view of views.filter(({ backend }) => backend !== 'dry-run')) {
    const { missing } = compare(active, view);
    if (missing.length > 0) found.push(finding('firewall', 'fail', `${missing.length} active block(s) of the state are not in ${view.backend} (${missing.slice(0, 3).map((entry) => entry.address).join(', ')}${missing.length > 3 ? ', ...' : ''})`, reconcileFix));
  }
  return found.length > 0 ? found : [finding('firewall', 'ok', `every active block is in its firewall (${active.length})`)];
}

/** Both iptables variants holding rules: each shows only its half, and a block seems not to exist. */
async function checkIptablesVariant(doctor: Doctor): Promise<Finding[]> {
  if (!doctor.config || !onPath('iptables')) return [];
  const report = await describeVariant(doctor.config);
  if (report.conflict) {
    return [finding('iptables', 'warn', report.reason, 'keep the host firewall in one variant (update-alternatives --config iptables) and flush the other')];
  }
  return [finding('iptables', 'ok', `iptables is ${report.variant}: ${report.reason}`)];
}

/**
 * firewalld and Docker put chains of their own before or around ours, and the host's own rules may come first:
 * say where a packet could pass, in the words of the backend new blocks go to.
 */
async function checkBypass(doctor: Doctor): Promise<Finding[]> {
  if (!doctor.config) return [];
  const config = doctor.config;
  const backend = explainBackend(config).backend;
  const found: Finding[] = [];
  const docker = existsSync('/sys/class/net/docker0');
  let firewalld = existsSync('/run/firewalld/firewalld.pid') || existsSync('/var/run/firewalld.pid');
  if (onPath('nft')) {
    try {
      const tables = await runTool(['nft', 'list', 'tables'], { timeoutSeconds: config.command_timeout });
      firewalld ||= /\btable \S+ firewalld\b/.test(tables.stdout);
    } catch {
      // reported by the backend check
    }
  }
  const view = (await readFirewalls(doctor, config)).find((candidate) => candidate.backend === backend);
  const alongside = view?.inspection?.alongside;
  if (docker) found.push(alongside?.docker ? fromBackend(alongside.docker) : finding('bypass', 'ok', 'Docker is here; forwarded traffic to containers passes our rules too'));
  // A backend without words of its own for firewalld keeps no iptables rules for a reload to drop.
  if (firewalld) {
    found.push(
      alongside?.firewalld
        ? fromBackend(alongside.firewalld)
        : finding('bypass', 'ok', `firewalld is here; its reloads leave our own table alone, and our chains (priority ${config.nftables.priority}) run before its filter chains`),
    );
  }
  // The backend's own: a hook left out, the host's rules before ours.
  found.push(...findingsOf(view, 'bypass'));
  return found;
}

/** Expiry is wall-clock time: a clock far off expires blocks at the wrong moment. */
async function checkClock(doctor: Doctor): Promise<Finding[]> {
  const now = nowSeconds();
  const found: Finding[] = [];
  const built = statOrUndefined(join(doctor.bin, 'palisade'))?.mtimeMs;
  if (built !== undefined && now < built / 1000 - 86400) {
    found.push(finding('clock', 'fail', `the clock (${new Date(now * 1000).toISOString()}) is behind the binary's install time: every expiry is wrong`, 'set the time and enable NTP: timedatectl set-ntp true'));
  }
  const future = doctor.entries.filter((entry) => entry.since > now + 300).length;
  if (future > 0) found.push(finding('clock', 'warn', `${future} block(s) were made "in the future": the clock went back, and they expire that much later`, 'check NTP; palisade list shows their times'));
  try {
    const result = await runTool(['timedatectl', 'show', '-p', 'NTPSynchronized', '--value'], { timeoutSeconds: 5 });
    if (result.exitCode === 0 && result.stdout.trim() === 'no') found.push(finding('clock', 'warn', 'the clock is not synchronised (timedatectl: NTPSynchronized=no)', 'timedatectl set-ntp true'));
  } catch {
    // No timedatectl (a container, a host without systemd): nothing more to learn.
  }
  return found.length > 0 ? found : [finding('clock', 'ok', `the clock reads ${new Date(now * 1000).toISOString()}`)];
}

function checkState({ installDir, damagedLines }: Doctor): Finding[] {
  const dir = stateDir(installDir);
  const found: Finding[] = [];
  try {
    accessSync(existsSync(dir) ? dir : installDir, constants.W_OK);
  } catch (error) {
    found.push(finding('state', 'fail', `${dir} is not writable (${(error as NodeJS.ErrnoException).code}): no block can be recorded, so every add fails`, `mkdir -p ${dir} && chown root:wazuh ${dir} && chmod 0750 ${dir}`));
  }
  const corrupt = new StateStore(dir).setAside();
  if (corrupt.length > 0) found.push(finding('state', 'warn', `${corrupt.length} unreadable state entr${corrupt.length === 1 ? 'y' : 'ies'} set aside in ${join(dir, 'blocks')} (*.corrupt)`, 'read them, unblock what they name if needed, then delete them'));
  if (damagedLines.length > 0) {
    found.push(
      finding(
        'state',
        'warn',
        `${damagedLines.length} unreadable line(s) in the bulk state (${damagedLines.slice(0, 3).join(', ')}${damagedLines.length > 3 ? ', ...' : ''}): the blocks they held are not in the state, so reconcile removes them from the firewall`,
        'read those lines and block again what they name (palisade block ADDRESS, or the list again with palisade block --from); the next write of that file drops them',
      ),
    );
  }
  return found.length > 0 ? found : [finding('state', 'ok', `${dir} is writable`)];
}

/** Nothing runs an AR when wazuh-execd does not. */
function checkExecd({ installDir }: Doctor): Finding[] {
  let pids: string[] = [];
  try {
    pids = readdirSync(join(installDir, 'var/run')).filter((name) => /^wazuh-execd-\d+\.pid$/.test(name));
  } catch {
    // no var/run
  }
  const alive = pids.map((name) => /(\d+)/.exec(name)![1]!).filter((pid) => existsSync(`/proc/${pid}`));
  if (alive.length === 0) return [finding('execd', 'warn', 'wazuh-execd is not running: no active response runs', 'systemctl start wazuh-agent (or wazuh-manager)')];
  return [finding('execd', 'ok', `wazuh-execd is running (pid ${alive.join(', ')})`)];
}

/** Blocks survive reboots and reloads only if something runs palisade reconcile then. */
async function checkReconcileUnit(): Promise<Finding[]> {
  if (!existsSync('/run/systemd/system')) return [finding('reconcile', 'warn', 'systemd is not running here: nothing restores blocks after a reboot or a firewall reload', 'run palisade reconcile from your init system after the firewall starts')];
  const found: Finding[] = [];
  for (const unit of ['palisade-reconcile.service', 'palisade-recheck.timer']) {
    try {
      const result = await runTool(['systemctl', 'is-enabled', unit], { timeoutSeconds: 5 });
      if (result.stdout.trim() !== 'enabled') found.push(finding('reconcile', 'warn', `${unit} is ${result.stdout.trim() || 'not installed'}: blocks lost to a reboot or a firewall reload wait for the next alert`, `systemctl enable --now ${unit}`));
    } catch {
      found.push(finding('reconcile', 'warn', 'systemctl does not answer', 'check systemd'));
    }
  }
  return found.length > 0 ? found : [finding('reconcile', 'ok', 'palisade-reconcile.service and palisade-recheck.timer are enabled')];
}

function checkUser(): Finding[] {
  if (process.getuid?.() === 0) return [];
  return [finding('user', 'warn', 'not run as root: the firewall and file checks may fail for want of rights', 'sudo palisade doctor')];
}

/**
 * The binary runs on the Bun it was compiled with, its code compiled to bytecode at build time. Run from
 * source (the test instruments), there is nothing to report.
 */
function checkStartup(): Finding[] {
  const bun = process.versions.bun;
  if (!bun) return [];
  return [finding('startup', 'ok', `runtime Bun ${bun}, code compiled to bytecode at build time`)];
}

const checks: Array<(doctor: Doctor) => Finding[] | Promise<Finding[]>> = [
  checkUser,
  checkBinary,
  checkLinks,
  checkRegistration,
  checkLog,
  checkConfig,
  checkFleet,
  checkSecrets,
  checkState,
  checkBackends,
  checkFirewall,
  checkIptablesVariant,
  checkBypass,
  checkClock,
  checkExecd,
  checkReconcileUnit,
  checkStartup,
];

export async function run(ctx: CliContext): Promise<number> {
  let layered: LoadedConfig | undefined;
  let configError: string | undefined;
  try {
    layered = await ctx.layeredConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    configError = error.message;
  }
  let entries: StateEntry[] = [];
  const damagedLines: string[] = [];
  try {
    entries = new StateStore(stateDir(ctx.installDir), (where) => damagedLines.push(where)).all();
  } catch {
    // checkState says why.
  }
  const doctor: Doctor = {
    installDir: ctx.installDir,
    bin: binDir(ctx.installDir),
    config: layered?.config,
    layered,
    configError,
    entries,
    damagedLines: damagedLines.filter((where) => /\.bulk:\d+$/.test(where)),
  };
  const findings: Finding[] = [];
  for (const check of checks) findings.push(...(await check(doctor)));

  const failed = findings.filter((f) => f.status === 'fail').length;
  const warned = findings.filter((f) => f.status === 'warn').length;
  if (ctx.out.json) {
    ctx.out.document({ ok: failed === 0, installDir: ctx.installDir, failed, warnings: warned, findings });
    return failed > 0 ? 1 : 0;
  }
  const { paint } = ctx.out;
  const marks: Record<FindingStatus, string> = { ok: paint('ok', 'ok  '), warn: paint('warn', 'WARN'), fail: paint('fail', 'FAIL') };
  for (const f of findings) {
    ctx.out.line(`${marks[f.status]} ${paint('bold', f.check.padEnd(12))} ${f.message}`);
    if (f.fix) ctx.out.line(`     ${' '.repeat(12)} ${paint('dim', `fix: ${f.fix}`)}`);
  }
  ctx.out.line();
  const summary = `${failed} failed, ${warned} warning(s), ${findings.length - failed - warned} ok (install dir ${ctx.installDir})`;
  ctx.out.line(failed > 0 ? paint('fail', summary) : warned > 0 ? paint('warn', summary) : paint('ok', summary));
  return failed > 0 ? 1 : 0;
}
