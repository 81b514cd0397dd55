/**
 * palisade-quarantine: move the file a file-integrity (syscheck.path; 5.x: file.path) or VirusTotal
 * (data.virustotal.source.file) alert names into a root-only quarantine directory, with a record of what it
 * was; execd's delete puts it back, unless something new has taken its place.
 *
 * It acts only below quarantine.roots and never follows a symlink there (runtime/safe-path.ts walks every
 * directory from the root down by descriptor). Where and how files are kept: quarantine-store.ts.
 */
import { posix } from 'node:path';
import { findSourceValue } from '../runtime/message.js';
import type { ArCommand, CommandContext, Targeting } from './command.js';
import { unusedOptionRefusal } from './common.js';
import { moveIntoQuarantine, restoreFromQuarantine, underPathLock, type QuarantineTarget } from './quarantine-store.js';

export type { QuarantineTarget } from './quarantine-store.js';

/** PATH_MAX: a longer name is not one the kernel would have reported. */
const maxPathBytes = 4096;

export function pathProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `not a string (${value === null ? 'null' : typeof value})`;
  if (value.length === 0) return 'empty';
  if (value.includes('\0')) return 'holding a NUL byte';
  if (Buffer.byteLength(value) > maxPathBytes) return `longer than ${maxPathBytes} bytes`;
  if (!value.startsWith('/')) return 'not an absolute path';
  if (value.split('/').includes('..')) return 'holding ".." (path traversal)';
  if (posix.normalize(value) !== value || value.endsWith('/')) return 'not in normal form (//, /./ or a trailing /)';
  return undefined;
}

/** The longest configured root the path lies strictly below. */
export function rootOf(path: string, roots: readonly string[]): string | undefined {
  return roots
    .map((root) => (root === '/' ? root : posix.normalize(root).replace(/\/$/, '')))
    .filter((root) => path.startsWith(root === '/' ? '/' : `${root}/`) && path !== root)
    .sort((a, b) => b.length - a.length)[0];
}

export function quarantineCommand(): ArCommand<QuarantineTarget> {
  const quarantine = async (ctx: CommandContext, target: QuarantineTarget) => {
    const outcome = await underPathLock(ctx, target.path, () => moveIntoQuarantine(ctx, target));
    if (outcome.result === 'nothing') {
      const reason = `nothing is at ${target.path} (deleted, or moved away before this alert was handled)`;
      ctx.log.info({ event: 'skipped', path: target.path, reason });
      ctx.tell(`skipped: ${reason}`);
      return;
    }
    if (outcome.result === 'present') {
      ctx.log.info({ event: 'quarantined', path: target.path, result: 'present' });
      ctx.tell(`${target.path} is already in quarantine`);
      return;
    }
    const { record } = outcome;
    const entry = { event: 'quarantined', result: 'moved', stored: outcome.stored, ...record };
    if (record.otherLinks > 0) ctx.log.warn(entry, `${record.otherLinks} other hard link(s) still reach this content outside quarantine`);
    else ctx.log.info(entry);
    ctx.tell(`quarantined ${target.path} (sha256 ${record.sha256}) into ${outcome.stored}`);
  };

  return {
    name: 'palisade-quarantine',
    stateful: true,
    target(ctx): Targeting<QuarantineTarget> {
      const unused = unusedOptionRefusal(ctx, []);
      if (unused) return unused;
      const { fileFields } = ctx.fields;
      const found = findSourceValue(ctx.alert, fileFields);
      if (!found) return { ok: false, wazuhMessage: '', detail: `no file in ${fileFields.join(' or ')}: not a file-integrity or VirusTotal alert` };
      const problem = pathProblem(found.value);
      if (problem) return { ok: false, wazuhMessage: '', detail: `${found.field} is ${problem}` };
      const path = found.value as string;
      const { roots } = ctx.config.quarantine;
      if (roots.length === 0) {
        return { ok: false, wazuhMessage: '', detail: `quarantine.roots is empty in palisade.yml: list the directories files may be quarantined from (refusing ${path})` };
      }
      const root = rootOf(path, roots);
      if (!root) return { ok: false, wazuhMessage: '', detail: `${path} is outside quarantine.roots (${roots.join(', ')})` };
      return { ok: true, target: { path, root, field: found.field }, keys: [path] };
    },
    add: quarantine,
    // execd already holds the key, and the alert fired again: a new file is there, so it goes too.
    refresh: quarantine,
    async delete(ctx, target) {
      const outcome = await underPathLock(ctx, target.path, () => restoreFromQuarantine(ctx, target));
      if (outcome.result === 'kept') {
        ctx.log.warn({ event: 'skipped', path: target.path, stored: outcome.stored, reason: outcome.reason });
        ctx.tell(`not restored: ${outcome.reason}`);
        return;
      }
      if (outcome.result === 'absent') {
        ctx.log.info({ event: 'file-restored', path: target.path, result: 'absent' });
        ctx.tell(`nothing of ${target.path} is in quarantine`);
        return;
      }
      const { record, remaining } = outcome;
      ctx.log.info({ event: 'file-restored', result: 'restored', path: record.path, sha256: record.sha256, olderVersionsKept: remaining });
      ctx.tell(`restored ${record.path}${remaining > 0 ? ` (${remaining} older version(s) stay in quarantine)` : ''}`);
    },
  };
}
