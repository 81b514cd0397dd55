/**
 * The execd stand-in of the tests: the shipped simulator (src/cli/execd-simulator.ts, the one
 * implementation of execd's side of the protocol) on a throwaway install, optionally inside a network
 * namespace, with a tight bound on hangs (a command that hangs fails the test in 20 s) and two ways of
 * feeding a command that execd never uses but people and broken setups do.
 */
import { collectOutput, ExecdSimulator } from '../../src/cli/execd-simulator.js';
import type { Install } from './install.js';

export { ProtocolViolation, type AddRun, type DeleteRun } from '../../src/cli/execd-simulator.js';

export interface ExecdOptions {
  /** Run commands inside this network namespace (through `ip netns exec`). */
  netns?: string | undefined;
  /** origin.name as the manager sends it: its cluster node name. */
  nodeName?: string;
  /** How long a command may take before the harness calls it hung. */
  hangMs?: number;
  env?: Record<string, string>;
}

export class Execd extends ExecdSimulator {
  constructor(
    readonly install: Install,
    readonly options: ExecdOptions = {},
  ) {
    super(install.root, {
      nodeName: options.nodeName,
      hangMs: options.hangMs ?? 20_000,
      env: options.env,
      prefix: options.netns ? ['ip', 'netns', 'exec', options.netns] : undefined,
    });
  }

  /**
   * Sends a line and keeps stdin open for good, as execd does for a command that never answers: the
   * command must still exit by itself. Returns its stdout and exit status.
   */
  async sendAndWait(name: string, line: string): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
    const child = this.spawnProgram(`active-response/bin/${name}`, true);
    const output = collectOutput(child);
    child.stdin!.write(line);
    try {
      const exitCode = await output.exit(this.hangMs, `${name} did not exit by itself with stdin left open`);
      return { exitCode, stdout: output.stdout(), stderr: output.stderr() };
    } finally {
      child.stdin!.destroy();
    }
  }

  /** Sends the message, waits for check_keys, then answers `reply` where execd would answer continue or abort. */
  async answer(name: string, line: string, reply: string): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
    const child = this.spawnProgram(`active-response/bin/${name}`, true);
    const output = collectOutput(child);
    child.stdin!.write(`${line}\n`);
    await output.firstLine(this.hangMs, `${name} wrote no check_keys line`);
    child.stdin!.end(`${reply}\n`);
    const exitCode = await output.exit(this.hangMs, `${name} did not exit after the reply`);
    return { exitCode, stdout: output.stdout(), stderr: output.stderr() };
  }

  /**
   * What a person does in a terminal: `echo '<line>' | active-response/bin/<name>`. stdin ends right after
   * the input, so no reply to check_keys ever comes.
   */
  async pipeIn(name: string, input: string): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
    const child = this.spawnProgram(`active-response/bin/${name}`, true);
    const output = collectOutput(child);
    child.stdin!.end(input);
    const exitCode = await output.exit(this.hangMs, `${name} did not exit after its stdin ended`);
    return { exitCode, stdout: output.stdout(), stderr: output.stderr() };
  }
}
