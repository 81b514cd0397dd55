/**
 * A throwaway system root to install Palisade's .deb and .rpm into, with dpkg --root and rpm --root.
 * Both package managers run maintainer scripts chrooted into the root, so the root holds a real /bin/sh
 * and the few tools those scripts call, copied from this host with their libraries; its /etc/group has a
 * `wazuh` group (or deliberately none), as a host with wazuh-agent has.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { testRoot } from './bundle.js';

/** What the maintainer scripts run, and what removal needs to take our tables out of the kernel. */
const scriptTools = ['sh', 'dash', 'getent', 'chown', 'chmod', 'mkdir', 'rm', 'cat', 'grep', 'sed', 'timeout'];
export const firewallTools = ['nft', 'iptables-save', 'iptables-restore', 'ip6tables-save', 'ip6tables-restore', 'ipset'];

export interface PackageRoot {
  readonly root: string;
  /** What /var/ossec is inside the root. */
  readonly ossec: string;
  /** The gid `wazuh` has inside the root. */
  readonly wazuhGid: number | undefined;
  /** The path inside the root of a path of the installed system: at('/var/ossec/etc') → <root>/var/ossec/etc. */
  at(path: string): string;
  /** dpkg --root (with --force-depends: no wazuh-agent here); `prefix` runs it through another command (ip netns exec NS). */
  dpkg(args: readonly string[], prefix?: readonly string[]): Promise<RunResult>;
  rpm(args: readonly string[], prefix?: readonly string[]): Promise<RunResult>;
  /** Copies a host binary and the libraries it loads to the same paths inside the root. */
  addBinary(path: string): void;
  /** Only the libraries a binary loads, for one that runs inside the root from its installed copy. */
  addLibrariesOf(path: string): void;
  remove(): void;
}

export interface RunResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

function which(tool: string): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (existsSync(join(dir, tool))) return join(dir, tool);
  }
  throw new Error(`${tool} is not installed on this host: the package tests need it (see .ci/run)`);
}

/** The shared libraries ldd lists for a binary, the loader included; none for a static one. */
function librariesOf(binary: string): string[] {
  let output: string;
  try {
    output = execFileSync('ldd', [binary], { encoding: 'utf8' });
  } catch {
    return [];
  }
  return [...output.matchAll(/(\/\S+) \(0x/g)].map((match) => match[1]!);
}

export function createPackageRoot(options: { wazuhGroup?: boolean; tools?: readonly string[] } = {}): PackageRoot {
  const root = join(testRoot, `pkgroot-${randomBytes(4).toString('hex')}`);
  // Merged /usr, as on Debian 12 and EL9: /bin, /sbin, /lib and /lib64 point into usr/.
  for (const dir of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'etc', 'tmp', 'run', 'dev', 'var/lib/dpkg/info', 'var/lib/dpkg/updates']) {
    mkdirSync(join(root, dir), { recursive: true });
  }
  for (const dir of ['bin', 'sbin', 'lib', 'lib64']) symlinkSync(`usr/${dir}`, join(root, dir));
  writeFileSync(join(root, 'var/lib/dpkg/status'), '');
  execFileSync('mknod', ['-m', '666', join(root, 'dev/null'), 'c', '1', '3']);
  const wazuhGid = options.wazuhGroup === false ? undefined : 777;
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), `root:x:0:\n${wazuhGid === undefined ? '' : `wazuh:x:${wazuhGid}:\n`}`);
  writeFileSync(join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\n');

  const at = (path: string) => join(root, path);
  const copied = new Set<string>();
  const copyIn = (path: string) => {
    if (copied.has(path)) return;
    copied.add(path);
    // Through the root's own relative /lib → usr/lib links, so every path the host uses resolves in the root too.
    mkdirSync(join(root, dirname(path)), { recursive: true });
    copyFileSync(path, join(root, path));
  };
  const addLibrariesOf = (path: string) => {
    for (const library of librariesOf(path)) copyIn(library);
  };
  const addBinary = (path: string) => {
    copyIn(path);
    addLibrariesOf(path);
  };
  const tools = [...scriptTools, ...(options.tools ?? [])];
  for (const tool of tools) addBinary(which(tool));
  // iptables loads its matches and targets (-j, -m set) from plug-ins at run time.
  if (tools.some((tool) => tool.includes('iptables'))) {
    const plugins = ['/usr/lib/x86_64-linux-gnu/xtables', '/usr/lib64/xtables', '/usr/lib/xtables'].find((dir) => existsSync(dir));
    if (!plugins) throw new Error('the iptables plug-in directory (xtables) is missing on this host');
    for (const plugin of readdirSync(plugins)) addBinary(join(plugins, plugin));
  }

  const run = async (argv: readonly string[], prefix: readonly string[] = []): Promise<RunResult> => {
    const [file, ...args] = [...prefix, ...argv];
    const result = await execa(file!, args, { reject: false, timeout: 180_000, stdin: 'ignore' });
    return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
  };
  return {
    root,
    ossec: at('var/ossec'),
    wazuhGid,
    at,
    dpkg: (args, prefix) => run(['dpkg', `--root=${root}`, '--force-depends', ...args], prefix),
    // Debian's rpm keeps its database in ~/.rpmdb by default; the root keeps its own.
    rpm: (args, prefix) => run(['rpm', '--root', root, '--dbpath', '/var/lib/rpm', ...args], prefix),
    addBinary,
    addLibrariesOf,
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
