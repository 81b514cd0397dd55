import type { Config } from '../runtime/config.js';
import type { Block } from '../runtime/block.js';
import type { BackendName } from '../runtime/backend-names.js';
import type { Logger } from '../runtime/log.js';

export type { Block };
export { BackendError } from '../runtime/errors.js';
export { backendNames, commandBackends, firewallBackendNames, isCommandBackend, isRemoteBackend, type BackendName } from '../runtime/backend-names.js';

/** A block as the state file remembers it. Times are epoch seconds. */
export interface ActiveBlock extends Block {
  expiresAt: number;
  /** Whatever the backend must remember to undo the block (an HTTP rule id, for example). */
  backendData?: Record<string, string> | undefined;
}

export interface AddOutcome {
  /**
   * "present" when the firewall already held the block: the call still succeeded. "skipped" when the
   * backend must leave this address alone (a route to it that someone else made): nothing changed, and
   * `reason` says why.
   */
  result: 'added' | 'present' | 'skipped';
  reason?: string | undefined;
  /** Blocks re-applied from the state file because the backend found its tables missing. */
  restored: number;
  backendData?: Record<string, string> | undefined;
}

export interface DeleteOutcome {
  /** "absent" when the firewall did not hold the block: the call still succeeded. */
  result: 'deleted' | 'absent';
  restored: number;
}

export interface EnsureOutcome {
  /** True when tables, chains or sets had to be created (after a reload, a flush or a reboot). */
  created: boolean;
  restored: number;
  /**
   * Every set of ours was gone and is now new, holding the `restored` blocks and nothing else: whoever has
   * the state at hand need not list them back (reconcile after a reload).
   */
  fresh?: boolean;
}

/** A block as the firewall itself reports it. */
export interface FirewallBlock extends Block {
  /** Seconds until the firewall expires it by itself, where it keeps such a timer. */
  expiresIn?: number | undefined;
}

/** What the kernel counted for one of our rules: the traffic Palisade's blocks stopped. */
export interface DropCounter {
  /** Which rule: "INPUT palisade4", "PALISADE IPv6", "blocked_addr4". */
  name: string;
  packets: number;
  bytes: number;
}

/**
 * One thing palisade doctor checked of a backend: its tools, its own tables, chains and sets, or the host's
 * rules around ours, in the words doctor prints.
 */
export interface BackendFinding {
  /** doctor's heading: "backend" the tools it runs, "firewall" what it made, "bypass" rules of the host before ours. */
  check: 'backend' | 'firewall' | 'bypass';
  status: 'ok' | 'warn' | 'fail';
  message: string;
  /** What to do, when something is wrong. */
  fix?: string | undefined;
  /** palisade status's words for it, when status counts it as a problem. */
  problem?: string | undefined;
  /** status counts the problem only while the backend takes new blocks or holds active ones. */
  unlessIdle?: boolean;
}

/** A row of its own in palisade status ("nftables   table inet palisade: ok"), and its section in --json. */
export interface BackendSummary {
  /** The row's label, and the key of the section. */
  label: string;
  /** What the row is about: "table inet palisade". */
  subject: string;
  health: { tone: 'ok' | 'warn' | 'fail' | 'plain'; text: string };
  section: unknown;
}

/** What a backend says of its own health: palisade status and doctor print it. */
export interface Inspection {
  findings: BackendFinding[];
  /** The kernel's packet and byte counters of our rules, where it keeps them: the traffic our blocks stopped. */
  counters: DropCounter[];
  /**
   * What doctor says of this backend's blocks where Docker or firewalld runs on the host, when that is not
   * "their traffic passes our rules too".
   */
  alongside?: { docker?: BackendFinding | undefined; firewalld?: BackendFinding | undefined };
  /** Why the counters could not be read: status then calls the firewall unreadable, as when list() fails. */
  countersError?: string;
  summary?: BackendSummary;
}

export interface BackendContext {
  config: Config;
  log: Logger;
  /**
   * Every unexpired block this backend should hold, from the state file. A backend reads it only when it
   * finds its own tables or sets missing, to put back what a firewall reload or a reboot took away.
   */
  restorable(): ActiveBlock[];
  /**
   * Why this invocation blocks ("rule 5712: sshd: brute force ..."), for firewalls that keep a note with each
   * rule (HTTP APIs). Free text from the alert: a backend must sanitise it for its own format.
   */
  note?: string | undefined;
  /**
   * Permission bits of the config file the config came from (stat mode & 0o7777), undefined when unknown or
   * when there was no file. A backend accepts a secret written in the config only when this says the file is
   * private; unknown counts as not private.
   */
  configFileMode?: number | undefined;
  /**
   * A directory where the backend may keep small files of its own between invocations (Palisade's state
   * dir). Undefined: nothing is kept, and every invocation acts as the first.
   */
  stateDir?: string | undefined;
}

/** A block with the seconds its kernel timer should run. */
export interface TimedBlock {
  block: Block;
  ttl: number;
}

/**
 * Many changes at once (palisade block --from, unblock --from). `add`: blocks the firewall does not hold
 * (the caller listed it first); `renew`: Palisade's own blocks, to this timer; `remove`: blocks to take out,
 * each with the seconds it had left, so a firewall without transactions can put it back when it fails.
 */
export interface BatchChange {
  add: TimedBlock[];
  renew: TimedBlock[];
  remove: TimedBlock[];
}

/**
 * One firewall. Every verb is idempotent, ensures the backend's own tables exist first, and throws a
 * BackendError carrying the tool's own message when the firewall refuses: it never succeeds silently.
 */
export interface Backend {
  readonly name: BackendName;
  /** Create our tables, chains and sets if missing; when they were, re-apply ctx.restorable(). */
  ensure(): Promise<EnsureOutcome>;
  /**
   * Block for ttlSeconds at most: the kernel timer is a safety net for a delete that never comes. A block the
   * firewall already holds is left exactly as it is and reported "present": it may not be Palisade's.
   */
  add(block: Block, ttlSeconds: number): Promise<AddOutcome>;
  delete(block: ActiveBlock | Block): Promise<DeleteOutcome>;
  /** Renew the timer of a block Palisade holds to ttlSeconds from now (the latest of its holders'). Adds it if missing. */
  refresh(block: Block, ttlSeconds: number): Promise<AddOutcome>;
  list(): Promise<FirewallBlock[]>;
  /**
   * The whole batch as one transaction, all or nothing: on failure it throws and the firewall holds what it
   * held before. Only firewalls that can do this in one tool run have it; the others take one verb per block.
   */
  applyBatch?(change: BatchChange): Promise<{ restored: number }>;
  /**
   * Read-only: what is wrong with the tools, tables, chains, sets and rules of this backend, and its drop
   * counters (palisade status, doctor). What it finds is an answer, never a throw.
   */
  inspect(): Promise<Inspection>;
  /** Remove every block and every table, chain, set or rule of ours. */
  flush(): Promise<void>;
}
