/**
 * palisade.yml decides what root blocks and runs, and a secret file decides where root sends credentials
 * and alerts: whoever can change either steers root. Both must be root's alone to change, and a secret
 * root's alone to read. One rule for the AR commands that refuse such a file and for doctor that fails it.
 */
import type { Stats } from 'node:fs';

export interface FileProblem {
  /** What is wrong and why it matters, naming the file as `label`. */
  problem: string;
  /** The command that mends it, when one command does. */
  fix?: string | undefined;
}

export function describeMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/** Why root must not trust the file at path, or undefined. `secret`: group and others may not read it either. */
export function trustProblem(stat: Stats, label: string, path: string, options: { secret?: boolean } = {}): FileProblem | undefined {
  if (stat.uid !== 0) {
    return { problem: `${label} is owned by uid ${stat.uid}, not root: whoever owns it can change what Palisade does as root`, fix: `chown root ${path}` };
  }
  if (options.secret && (stat.mode & 0o077) !== 0) {
    return { problem: `${label} is open to group or others (mode ${describeMode(stat.mode)}); refusing to use a secret others can read`, fix: `chmod 600 ${path}` };
  }
  if ((stat.mode & 0o022) !== 0) {
    return { problem: `${label} can be written by group or others (mode ${describeMode(stat.mode)}): they can change what Palisade does as root`, fix: `chmod go-w ${path}` };
  }
  return undefined;
}

/** The problem and its fix as one sentence, for a log line or an error. */
export function describeTrustProblem({ problem, fix }: FileProblem): string {
  return fix === undefined ? problem : `${problem}: run ${fix}`;
}
