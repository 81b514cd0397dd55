/**
 * Which iptables this host runs, for status and doctor: the variant behind the `iptables` command
 * (`iptables -V` says "nf_tables" or "legacy") and whether iptables-legacy tables exist beside it. Rules
 * in both places are a classic reason a rule "does nothing": each tool shows only its own half.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../runtime/config.js';
import { runTool } from '../runtime/exec.js';

export interface VariantReport {
  /** What `iptables` runs: nft, legacy, or unknown when iptables -V says neither. */
  variant: 'nft' | 'legacy' | 'unknown';
  reason: string;
  /** iptables-nft is the command, and iptables-legacy tables exist too. */
  conflict: boolean;
}

/** Tables iptables-legacy has made in this network namespace: a kernel file, no process needed. */
export function legacyTables(): string[] {
  const names: string[] = [];
  for (const file of ['/proc/net/ip_tables_names', '/proc/net/ip6_tables_names']) {
    try {
      names.push(...readFileSync(file, 'utf8').split('\n').filter(Boolean));
    } catch {
      // ip_tables is not loaded: no legacy table exists.
    }
  }
  return [...new Set(names)];
}

export async function describeVariant(config: Config): Promise<VariantReport> {
  let version = '';
  try {
    version = (await runTool(['iptables', '-V'], { timeoutSeconds: config.command_timeout })).stdout.trim();
  } catch (error) {
    return { variant: 'unknown', reason: (error as Error).message, conflict: false };
  }
  const variant = version.includes('nf_tables') ? 'nft' : version.includes('legacy') ? 'legacy' : 'unknown';
  const legacy = legacyTables();
  if (variant === 'nft' && legacy.length > 0) {
    return {
      variant,
      reason: `${version}, but iptables-legacy tables exist too (${legacy.join(', ')}): rules live in two places and each iptables shows only its own`,
      conflict: true,
    };
  }
  return { variant, reason: version || 'iptables -V printed nothing', conflict: false };
}
