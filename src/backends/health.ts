/**
 * What the backends' inspect() share: whether the tools they run are there and answer, where the host's
 * rules come before ours in iptables, and the drop counters read as an answer rather than a throw. Only
 * status and doctor inspect, so the backends import this module when asked, and an alert never loads it.
 */
import { firstLine, runTool, ToolError } from '../runtime/exec.js';
import type { BackendContext, BackendFinding, BackendName, DropCounter, Inspection } from './backend.js';

/** The fix for blocks or rules a reload, a reboot or a flush took away. */
export const reconcileFix = 'run palisade reconcile, and systemctl enable --now palisade-reconcile.service so a reload or reboot is repaired by itself';

/** Each tool the backend runs is there and answers; run as root, they list what they hold. */
export async function probeTools(ctx: BackendContext, backend: BackendName, probes: ReadonlyArray<readonly [string, ...string[]]>): Promise<BackendFinding[]> {
  const found: BackendFinding[] = [];
  for (const argv of probes) {
    try {
      const result = await runTool(argv, { timeoutSeconds: ctx.config.command_timeout });
      if (result.exitCode !== 0) {
        const message = firstLine(result.stderr);
        const fix = /not permitted|denied/i.test(message) ? 'run palisade and the agent as root' : `try ${argv.join(' ')} by hand`;
        found.push({ check: 'backend', status: 'fail', message: `${argv.join(' ')} fails for ${backend}: ${message}`, fix });
      }
    } catch (error) {
      const missing = error instanceof ToolError && error.reason === 'missing';
      found.push({
        check: 'backend',
        status: 'fail',
        message: `${argv[0]} ${missing ? 'is not installed' : `does not answer: ${(error as Error).message}`}, and backend ${backend} needs it`,
        fix: missing ? `install ${argv[0]}, or choose another backend: in palisade.yml` : undefined,
      });
    }
  }
  return found;
}

/**
 * ipset and iptables: our rule in each parent chain, with no ACCEPT before it (what an earlier rule accepts
 * never reaches ours). A missing rule matters only while blocks are active: the first block adds it.
 */
export async function ruleOrder(ctx: BackendContext, parents: readonly string[], isOurs: (line: string) => boolean): Promise<BackendFinding[]> {
  const active = ctx.restorable().length > 0;
  const found: BackendFinding[] = [];
  // Imported here: the nftables backend shares this module and has no use for iptables.
  const { families, openXtables } = await import('./xtables.js');
  try {
    const xt = await openXtables(ctx);
    for (const family of families) {
      for (const parent of parents) {
        const rules = ((await xt.listChain(family, parent)) ?? []).filter((line) => line.startsWith('-A '));
        const ours = rules.findIndex(isOurs);
        const where = `${parent} (${xt.tool(family)})`;
        if (ours < 0) {
          if (active) found.push({ check: 'bypass', status: 'fail', message: `${where} has no rule of Palisade's: active blocks are not enforced there`, fix: 'run palisade reconcile' });
          continue;
        }
        const accept = rules.slice(0, ours).find((line) => / -j ACCEPT$/.test(line));
        if (accept) {
          found.push({
            check: 'bypass',
            status: 'warn',
            message: `${where}: "${accept}" comes before Palisade's rule, so what it accepts is never blocked`,
            fix: `move that rule below Palisade's, or run palisade reconcile after the host firewall loads`,
          });
        }
      }
    }
  } catch (error) {
    found.push({ check: 'bypass', status: 'fail', message: `cannot read the iptables chains: ${(error as Error).message}`, fix: 'run palisade doctor as root' });
  }
  return found.length > 0 ? found : [{ check: 'bypass', status: 'ok', message: `Palisade's rules come first in ${parents.join(', ')}` }];
}

/** ipset and iptables beside Docker, whose published ports bypass INPUT, and firewalld, whose reloads rebuild iptables. */
export function xtablesAlongside(ctx: BackendContext): NonNullable<Inspection['alongside']> {
  return {
    docker: ctx.config.iptables.docker_user
      ? undefined
      : {
          check: 'bypass',
          status: 'fail',
          message: "Docker is here and iptables.docker_user is false: published container ports bypass INPUT and FORWARD rules placed after Docker's",
          fix: 'set iptables.docker_user: true in palisade.yml',
        },
    firewalld: {
      check: 'bypass',
      status: 'warn',
      message: 'firewalld is here: firewall-cmd --reload rebuilds its iptables rules and can drop our jumps until the next alert or reconcile',
      fix: 'use backend: nftables (firewalld leaves other tables alone), or keep palisade-recheck.timer enabled',
    },
  };
}

/** The counters, or why they could not be read. */
export async function readCounters(read: () => Promise<DropCounter[]>): Promise<Pick<Inspection, 'counters' | 'countersError'>> {
  try {
    return { counters: await read() };
  } catch (error) {
    return { counters: [], countersError: (error as Error).message };
  }
}
