/**
 * palisade-host-deny: deny the alert's source address to every TCP-wrapped service with a line in
 * /etc/hosts.deny, until execd's delete.
 *
 * Better than Wazuh's host-deny (shared/research/wazuh-ar-protocol.md, 7.4): IPv6 is written in the
 * brackets TCP wrappers require (wazuh#16460); our lines carry a marker and are matched whole, so removing
 * 1.2.3.4 never removes 11.2.3.45 nor a line the administrator wrote; the file is replaced atomically with
 * its mode and owner kept; adding a present address or removing an absent one succeeds.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { blockText, isSingleHost } from '../runtime/address.js';
import { writeFileAtomic } from '../runtime/atomic-file.js';
import type { Block } from '../backends/backend.js';
import { allowlistReason, targetSource, type AddressTarget } from './address-target.js';
import type { ArCommand, CommandContext } from './command.js';
import { ruleOf, underStateLock, unusedOptionRefusal } from './common.js';

/** The comment that makes a line ours: nothing without it is ever changed. */
export const hostDenyMarker = '# palisade';

/**
 * hosts_access(5): an IPv6 address or network must be in brackets, [2001:db8::]/64. Only IPv6 blocks are
 * ever networks here (ipv6_prefix), so the prefix form is the only network form needed.
 */
export function hostDenyLine(block: Block): string {
  const [address] = blockText(block).split('/');
  const pattern = block.family === 6 ? `[${address}]` : address;
  return `ALL: ${pattern}${isSingleHost(block) ? '' : `/${block.prefix}`} ${hostDenyMarker}`;
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
  if (!stat.isFile()) throw new Error(`${path} (config host_deny.path) is not a regular file`);
  const text = readFileSync(path, 'utf8');
  const lines = text.length === 0 ? [] : text.replace(/\n$/, '').split('\n');
  return { path, lines, mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid };
}

function isOurs(line: string, ours: string): boolean {
  return line.trimEnd() === ours;
}

export function hostDenyCommand(): ArCommand<AddressTarget> {
  /** Reads, changes and replaces the file under the state lock, so that concurrent alerts never lose a line. */
  const change = (ctx: CommandContext, edit: (lines: string[]) => string[] | undefined) =>
    underStateLock(ctx, () => {
      const file = readDenyFile(ctx.config.host_deny.path);
      const edited = edit(file.lines);
      if (edited === undefined) return { changed: false, path: file.path };
      const text = edited.length === 0 ? '' : `${edited.join('\n')}\n`;
      writeFileAtomic(file.path, text, { mode: file.mode, uid: file.uid, gid: file.gid });
      return { changed: true, path: file.path };
    });

  const deny = async (ctx: CommandContext, target: AddressTarget) => {
    const line = hostDenyLine(target.block);
    const outcome = await change(ctx, (lines) => (lines.some((l) => isOurs(l, line)) ? undefined : [...lines, line]));
    const address = blockText(target.block);
    const result = outcome.changed ? 'added' : 'present';
    ctx.log.info({ event: 'host-denied', address, result, file: outcome.path, field: target.field, rule: ruleOf(ctx.alert) });
    ctx.tell(`denied ${address} in ${outcome.path}${outcome.changed ? '' : ' (it was already denied)'}`);
  };

  return {
    name: 'palisade-host-deny',
    stateful: true,
    target: (ctx) => unusedOptionRefusal(ctx, ['sourceFields']) ?? targetSource(ctx),
    skipReason: allowlistReason,
    add: deny,
    // execd already holds the key; put the line back if someone removed it meanwhile.
    refresh: deny,
    async delete(ctx, target) {
      const line = hostDenyLine(target.block);
      const outcome = await change(ctx, (lines) => {
        const kept = lines.filter((l) => !isOurs(l, line));
        return kept.length === lines.length ? undefined : kept;
      });
      const address = blockText(target.block);
      ctx.log.info({ event: 'host-allowed', address, result: outcome.changed ? 'deleted' : 'absent', file: outcome.path });
      ctx.tell(`allowed ${address} again in ${outcome.path}${outcome.changed ? '' : ' (it was not denied)'}`);
    },
  };
}
