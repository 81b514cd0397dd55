/**
 * `palisade flush`: takes every firewall block Palisade made out of the kernel (or the HTTP firewall),
 * with our tables, chains and sets, and empties the state, so nothing is restored afterwards. The package
 * runs `palisade flush --yes` on removal. Blocks execd still has in its timeout list get a delete later
 * that finds nothing to do.
 */
import { createInterface } from 'node:readline/promises';
import { openBackend, openStateStore } from '../commands/blocking.js';
import { UsageError } from './args.js';
import type { CliContext } from './context.js';
import { backendsInUse, explainBackend } from './inspect.js';
import { operator } from './common.js';
import type { FlushOptions } from './flush-options.js';

async function confirm(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

export async function run(ctx: CliContext, options: FlushOptions): Promise<number> {
  const env = await ctx.env();
  const state = openStateStore(env);
  const entries = state.all(options.backend);
  const backends = backendsInUse(entries, explainBackend(env.config), options.backend);
  const counts = backends.map((backend) => `${backend}: ${entries.filter((entry) => entry.backend === backend).length}`);
  const what = `every Palisade block (${counts.join(', ') || 'none recorded'}) and Palisade's tables, chains and sets`;

  if (!options.yes) {
    if (!process.stdin.isTTY || ctx.out.json) {
      throw new UsageError(`this would remove ${what}; nobody at a terminal can confirm that, so add --yes to do it`);
    }
    if (!(await confirm(`Remove ${what}? [y/N] `))) {
      ctx.out.line('Nothing changed.');
      return 1;
    }
  }

  const results = await state.locked(env.config.lock_timeout, async () => {
    const results: Array<{ backend: string; removed: number; error?: string }> = [];
    for (const backend of backends) {
      const ofBackend = state.all(backend);
      try {
        await (await openBackend(env, backend, state)).flush();
        state.change({ remove: ofBackend });
        results.push({ backend, removed: ofBackend.length });
      } catch (error) {
        results.push({ backend, removed: 0, error: (error as Error).message });
      }
    }
    return results;
  });

  const by = operator();
  for (const result of results) {
    if (result.error) env.log.error({ event: 'error', backend: result.backend, reason: `flush failed: ${result.error}`, ...(by ? { operator: by } : {}) });
    else env.log.info({ event: 'flushed', backend: result.backend, removed: result.removed, ...(by ? { operator: by } : {}) });
  }
  const failed = results.filter((result) => result.error);
  if (ctx.out.json) ctx.out.document({ ok: failed.length === 0, backends: results });
  else {
    if (results.length === 0) ctx.out.line('No backend in use and no block in the state: nothing to flush.');
    for (const result of results) {
      ctx.out.line(
        result.error
          ? `${result.backend}: ${ctx.out.paint('fail', `failed: ${result.error}`)}; its state entries are kept, so palisade flush can be run again`
          : `${result.backend}: removed ${result.removed} block(s) and Palisade's rules`,
      );
    }
  }
  return failed.length > 0 ? 1 : 0;
}
