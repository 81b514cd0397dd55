/**
 * hosts-deny, palisade-host-deny's backend: a line in TCP wrappers' deny file (host_deny.path, default
 * /etc/hosts.deny) denies the address to every TCP-wrapped service.
 *
 * IPv6 is written in the brackets TCP wrappers require (wazuh#16460); our lines carry a marker and are matched whole, so removing
 * 1.2.3.4 never removes 11.2.3.45 nor a line the administrator wrote; the file is replaced atomically with
 * its mode and owner kept, and a symlinked file is changed where it points.
 *
 * TCP wrappers keep no timer, and the file holds nothing but the marker (simple lines for every libwrap):
 * the state entry's expiry is the only one, and `palisade reconcile` (the packaged timer, every 10 minutes)
 * removes expired lines. The callers hold the state lock (commands/blocking.ts), so concurrent alerts never
 * lose a line between the read and the rename.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { isSingleHost, parseAddress } from '../runtime/address.js';
import { writeFileAtomic } from '../runtime/atomic-file.js';
import { BackendError, type ActiveBlock, type Backend, type BackendContext, type Block, type FirewallBlock } from './backend.js';

/** The comment that makes a line ours: nothing without it is ever changed. */
export const hostDenyMarker = '# palisade';

/** 24 → 255.255.255.0: hosts_access(5) reads an IPv4 network as net/mask only. */
function ipv4Mask(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((shift) => (bits >>> shift) & 0xff).join('.');
}

function ipv4PrefixOf(mask: string): number | undefined {
  const parsed = parseAddress(mask);
  if (!parsed.ok || parsed.block.family !== 4) return undefined;
  const bits = mask.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const prefix = bits.toString(2).replace(/0+$/, '').length;
  return ipv4Mask(prefix) === mask ? prefix : undefined;
}

/**
 * hosts_access(5): an IPv6 address or network in brackets, [2001:db8::]/64; an IPv4 network as
 * 198.51.100.0/255.255.255.0.
 */
export function hostDenyLine(block: Block): string {
  const [address] = block.address.split('/');
  const pattern = block.family === 6 ? `[${address}]` : address;
  const network = isSingleHost(block) ? '' : `/${block.family === 6 ? block.prefix : ipv4Mask(block.prefix)}`;
  return `ALL: ${pattern}${network} ${hostDenyMarker}`;
}

const ourLinePattern = /^ALL: (?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+))(?:\/([0-9.]+))? # palisade$/;

/** The block a line of ours denies; undefined for any other line, one hand-edited out of our form included. */
export function blockOfLine(line: string): Block | undefined {
  const match = ourLinePattern.exec(line.trimEnd());
  if (!match) return undefined;
  const [, ipv6, ipv4, network] = match;
  const prefix = network === undefined ? undefined : ipv6 !== undefined ? network : ipv4PrefixOf(network);
  if (network !== undefined && prefix === undefined) return undefined;
  const parsed = parseAddress(`${ipv6 ?? ipv4}${prefix === undefined ? '' : `/${prefix}`}`, { allowNetwork: true });
  // Only the exact form we write is ours: "ALL: [2001:0db8::1] # palisade" was typed by someone else.
  return parsed.ok && hostDenyLine(parsed.block) === line.trimEnd() ? parsed.block : undefined;
}

interface DenyFile {
  /** The real file: a symlinked /etc/hosts.deny is changed where it points, never replaced by a file. */
  path: string;
  lines: string[];
  mode: number;
  uid: number;
  gid: number;
}

function readDenyFile(configured: string): DenyFile {
  let path: string;
  try {
    path = realpathSync(configured);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    // TCP wrappers treat a missing file as empty; create it as distributions ship it.
    return { path: configured, lines: [], mode: 0o644, uid: 0, gid: 0 };
  }
  const stat = statSync(path);
  if (!stat.isFile()) throw new BackendError(`${path} (config host_deny.path) is not a regular file: point host_deny.path at TCP wrappers' deny file`);
  const text = readFileSync(path, 'utf8');
  const lines = text.length === 0 ? [] : text.replace(/\n$/, '').split('\n');
  return { path, lines, mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid };
}

export function createHostsDenyBackend(ctx: BackendContext): Backend {
  const configured = ctx.config.host_deny.path;

  /** Reads, edits and replaces the file; an edit that returns undefined changes nothing, not even the inode. */
  const change = (edit: (lines: string[]) => string[] | undefined): boolean => {
    const file = readDenyFile(configured);
    const edited = edit(file.lines);
    if (edited === undefined) return false;
    const text = edited.length === 0 ? '' : `${edited.join('\n')}\n`;
    writeFileAtomic(file.path, text, { mode: file.mode, uid: file.uid, gid: file.gid });
    return true;
  };

  const deny = async (block: Block) => {
    const line = hostDenyLine(block);
    const added = change((lines) => (lines.some((held) => held.trimEnd() === line) ? undefined : [...lines, line]));
    return { result: added ? ('added' as const) : ('present' as const), restored: 0 };
  };

  return {
    name: 'hosts-deny',

    /**
     * No table to lose, but the file can be rewritten under us (a config-management run): put back every
     * unexpired line it lacks, in one rewrite. Only `palisade reconcile` calls this; the add path never
     * reads the state.
     */
    async ensure() {
      let restored = 0;
      change((lines) => {
        const held = new Set(lines.map((line) => line.trimEnd()));
        const missing = ctx.restorable().map(hostDenyLine).filter((line) => !held.has(line));
        restored = missing.length;
        return missing.length === 0 ? undefined : [...lines, ...missing];
      });
      if (restored > 0) ctx.log.warn({ event: 'firewall-restored', backend: 'hosts-deny', file: configured, restored }, 'lines of ours were missing from the deny file and were put back');
      return { created: false, restored };
    },

    // No timer to set or renew: the state's expiry is enforced by palisade reconcile.
    add: (block: Block, _ttlSeconds: number) => deny(block),
    refresh: (block: Block, _ttlSeconds: number) => deny(block),

    async delete(block: ActiveBlock | Block) {
      const line = hostDenyLine(block);
      const deleted = change((lines) => {
        const kept = lines.filter((held) => held.trimEnd() !== line);
        return kept.length === lines.length ? undefined : kept;
      });
      return { result: deleted ? 'deleted' : 'absent', restored: 0 };
    },

    async list(): Promise<FirewallBlock[]> {
      return readDenyFile(configured).lines.flatMap((line) => blockOfLine(line) ?? []);
    },

    async flush() {
      change((lines) => {
        const kept = lines.filter((line) => blockOfLine(line) === undefined);
        return kept.length === lines.length ? undefined : kept;
      });
    },

    // A file of lines: nothing to count, and its problems are the verbs' own refusals.
    inspect: async () => ({ findings: [], counters: [] }),
  };
}
