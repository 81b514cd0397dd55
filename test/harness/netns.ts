/**
 * A two-host lab in network namespaces: a protected host with a TCP listener, and an attacker host with
 * three addresses per family (the attacker, an innocent neighbour, and a spare), joined by a veth pair.
 * Addresses come from the documentation ranges and exist only inside these namespaces.
 *
 * Kernel tests must run for real: when namespaces cannot be made, createLab throws, and the test fails.
 */
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';

export interface Lab {
  /** Namespace of the host Palisade protects: run commands under test here. */
  readonly protectedNs: string;
  readonly attackerNs: string;
  readonly protected4: string;
  readonly protected6: string;
  /** The attacker's addresses: [attacker, neighbour, spare] per family. */
  readonly attacker4: readonly [string, string, string];
  readonly attacker6: readonly [string, string, string];
  /** The TCP port the protected host listens on (IPv4 and IPv6). */
  readonly port: number;
  /** argv prefixed with `ip netns exec <ns>`. */
  inNs(ns: string, argv: readonly string[]): string[];
  /** Run a command in a namespace; throws with its stderr when it fails. */
  run(ns: string, argv: readonly string[]): Promise<string>;
  /** True when a TCP connection from `from` (an attacker address) to the protected host completes. */
  canConnect(from: string, timeoutMs?: number): Promise<boolean>;
  /**
   * What a TCP client at `from` sees: "connected", "timeout" (a drop), or the error's code (ECONNREFUSED: a
   * reject). For tests that must tell a drop from a reject.
   */
  connectOutcome(from: string, timeoutMs?: number): Promise<string>;
  destroy(): Promise<void>;
}

const ip = (args: string[]) => execa('ip', args, { timeout: 10_000 });

export async function createLab(): Promise<Lab> {
  const id = randomBytes(3).toString('hex');
  // The run's prefix (test/global-setup.ts) lets the run's teardown remove labs a killed worker left behind.
  const prefix = process.env.PALISADE_LAB_PREFIX ?? 'pal';
  const protectedNs = `${prefix}-${id}-prot`;
  const attackerNs = `${prefix}-${id}-att`;
  const vethProtected = `pp${id}`;
  const vethAttacker = `pa${id}`;
  const lab = {
    protectedNs,
    attackerNs,
    protected4: '192.0.2.1',
    protected6: '2001:db8:100::1',
    attacker4: ['192.0.2.66', '192.0.2.77', '192.0.2.88'] as const,
    attacker6: ['2001:db8:200::66', '2001:db8:200::77', '2001:db8:300::88'] as const,
    port: 8080,
  };
  try {
    await ip(['netns', 'add', protectedNs]);
    await ip(['netns', 'add', attackerNs]);
    await ip(['link', 'add', vethProtected, 'netns', protectedNs, 'type', 'veth', 'peer', 'name', vethAttacker, 'netns', attackerNs]);
    for (const [ns, dev] of [[protectedNs, vethProtected], [attackerNs, vethAttacker]] as const) {
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', ns, 'link', 'set', dev, 'up']);
    }
    await ip(['-n', protectedNs, 'addr', 'add', `${lab.protected4}/24`, 'dev', vethProtected]);
    await ip(['-n', protectedNs, '-6', 'addr', 'add', `${lab.protected6}/48`, 'dev', vethProtected, 'nodad']);
    await ip(['-n', protectedNs, '-6', 'route', 'add', '2001:db8::/32', 'dev', vethProtected]);
    for (const address of lab.attacker4) {
      await ip(['-n', attackerNs, 'addr', 'add', `${address}/24`, 'dev', vethAttacker]);
    }
    for (const address of lab.attacker6) {
      await ip(['-n', attackerNs, '-6', 'addr', 'add', `${address}/32`, 'dev', vethAttacker, 'nodad']);
    }
    // Neighbours known for good, as a router is to a host: IPv6 neighbour discovery runs over ICMPv6 from the
    // very address a test blocks, so a block would otherwise cut the attacker off before any TCP packet (a
    // timeout or EHOSTUNREACH where a reject's reset was expected), depending on the neighbour cache's age.
    const macOf = async (ns: string, dev: string) => {
      const { stdout } = await execa('ip', ['-n', ns, '-j', 'link', 'show', dev], { timeout: 10_000 });
      return (JSON.parse(stdout) as Array<{ address: string }>)[0]!.address;
    };
    const protectedMac = await macOf(protectedNs, vethProtected);
    const attackerMac = await macOf(attackerNs, vethAttacker);
    for (const address of lab.attacker6) {
      await ip(['-n', protectedNs, '-6', 'neigh', 'replace', address, 'lladdr', attackerMac, 'dev', vethProtected, 'nud', 'permanent']);
    }
    await ip(['-n', attackerNs, '-6', 'neigh', 'replace', lab.protected6, 'lladdr', protectedMac, 'dev', vethAttacker, 'nud', 'permanent']);
  } catch (error) {
    await removeNamespaces(protectedNs, attackerNs);
    throw new Error(
      `cannot build the network-namespace lab (kernel tests need root and CAP_NET_ADMIN; they never skip): ${(error as Error).message}`,
    );
  }

  const listener = execa(
    'ip',
    ['netns', 'exec', protectedNs, process.execPath, '-e', listenerScript(lab.port)],
    { stdin: 'ignore', stdout: 'pipe', stderr: 'inherit', reject: false },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the lab listener did not start in 5 s')), 5000);
    listener.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
  });

  const inNs = (ns: string, argv: readonly string[]) => ['ip', 'netns', 'exec', ns, ...argv];
  const connectOutcome = async (from: string, timeoutMs = 1500): Promise<string> => {
    const target = from.includes(':') ? lab.protected6 : lab.protected4;
    const result = await execa(
      'ip',
      ['netns', 'exec', attackerNs, process.execPath, '-e', probeScript(target, lab.port, from, timeoutMs)],
      { timeout: timeoutMs + 5000, reject: false },
    );
    if (result.stdout === '') throw new Error(`connection probe from ${from} printed nothing: ${result.stderr}`);
    return result.stdout;
  };
  return {
    ...lab,
    inNs,
    async run(ns, argv) {
      const [file, ...args] = inNs(ns, argv);
      const result = await execa(file!, args, { timeout: 20_000, reject: false });
      if (result.exitCode !== 0) {
        throw new Error(`${argv.join(' ')} failed in ${ns} (${result.exitCode}): ${result.stderr}`);
      }
      return result.stdout;
    },
    connectOutcome,
    async canConnect(from, timeoutMs = 1500) {
      const outcome = await connectOutcome(from, timeoutMs);
      if (outcome === 'connected') return true;
      if (blockedOutcomes.includes(outcome)) return false;
      throw new Error(`connection probe from ${from} failed oddly: ${outcome}`);
    },
    async destroy() {
      listener.kill('SIGKILL');
      await listener.catch(() => undefined);
      await removeNamespaces(protectedNs, attackerNs);
    },
  };
}

async function removeNamespaces(...names: string[]) {
  for (const name of names) await execa('ip', ['netns', 'del', name], { reject: false, timeout: 10_000 });
}

function listenerScript(port: number): string {
  return `
    const net = require('node:net');
    const server = net.createServer((socket) => socket.end('palisade-lab\\n'));
    server.listen({ port: ${port}, host: '::', ipv6Only: false }, () => process.stdout.write('listening\\n'));`;
}

/** What a blocked address meets: a drop's silence, a reset, or an ICMP error. Anything else is the lab's fault. */
const blockedOutcomes = ['timeout', 'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT'];

/** Prints "connected" when the server greets us, "timeout" when nothing answers, else the error's code. */
function probeScript(host: string, port: number, localAddress: string, timeoutMs: number): string {
  return `
    const net = require('node:net');
    const socket = net.connect({ host: '${host}', port: ${port}, localAddress: '${localAddress}' });
    const done = (word) => { process.stdout.write(word); socket.destroy(); process.exit(0); };
    socket.setTimeout(${timeoutMs}, () => done('timeout'));
    socket.on('data', () => done('connected'));
    socket.on('error', (error) => done(String(error.code)));`;
}

/** A bare network namespace (loopback up, nothing else): a kernel of its own for tests that need no traffic. */
export interface Namespace {
  readonly name: string;
  /** Run a command in the namespace; throws with its stderr when it fails. */
  run(argv: readonly string[], input?: string): Promise<string>;
  destroy(): Promise<void>;
}

export async function createNamespace(label = 'ns'): Promise<Namespace> {
  const prefix = process.env.PALISADE_LAB_PREFIX ?? 'pal';
  const name = `${prefix}-${randomBytes(3).toString('hex')}-${label}`;
  try {
    await ip(['netns', 'add', name]);
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (error) {
    await removeNamespaces(name);
    throw new Error(`cannot make a network namespace (kernel tests need root and CAP_NET_ADMIN; they never skip): ${(error as Error).message}`);
  }
  return {
    name,
    async run(argv, input) {
      const result = await execa('ip', ['netns', 'exec', name, ...argv], { timeout: 20_000, reject: false, ...(input === undefined ? {} : { input }) });
      if (result.exitCode !== 0) throw new Error(`${argv.join(' ')} failed in ${name} (${result.exitCode}): ${result.stderr}`);
      return String(result.stdout);
    },
    destroy: () => removeNamespaces(name),
  };
}
