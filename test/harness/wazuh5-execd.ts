/**
 * The real Wazuh 5.x wazuh-execd (v5.0.0-beta4, built from Wazuh's sources) running over a test install, when
 * the checkout has ../shared/wazuh5-execd beside it. Its drive5.py plays agentd (test/harness/wazuh5-bridge.py
 * speaks to it); execd then runs our links in active-response/bin exactly as it would on an agent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from './bundle.js';
import type { Install } from './install.js';

export const wazuh5Dir = join(repoRoot, '..', 'shared', 'wazuh5-execd');

/** Why the real 5.x execd cannot run here, or undefined when it can. */
export const wazuh5Absent: string | undefined = (() => {
  for (const file of ['bin/wazuh-execd', 'drive5.py', '../wazuh-execd/drive.py']) {
    if (!existsSync(join(wazuh5Dir, file))) return `${join(wazuh5Dir, file)} is absent`;
  }
  for (const dir of ['/usr/bin', '/bin']) {
    try {
      accessSync(join(dir, 'python3'), constants.X_OK);
      return undefined;
    } catch {
      // try the next
    }
  }
  return 'python3 is absent (drive5.py needs it)';
})();

/** The agent service's environment, as the simulator uses: no NODE_OPTIONS, a plain PATH. */
const agentEnv = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

type Answer = { ok: boolean; error?: string; match?: string; status?: number | null; ossec?: string; ar?: string };

export class RealExecd5 {
  private readonly answers: Array<(answer: Answer) => void> = [];
  private stopped: Promise<number | null | undefined> | undefined;
  /** The drivers' progress lines, for a failure's message. */
  private progress = '';

  private constructor(
    private readonly bridge: ChildProcess,
    readonly install: Install,
  ) {
    createInterface({ input: bridge.stdout! }).on('line', (line) => this.answers.shift()?.(JSON.parse(line) as Answer));
    bridge.stderr!.on('data', (chunk: Buffer) => (this.progress = `${this.progress}${chunk.toString()}`.slice(-4000)));
  }

  /** Makes the install a 5.x agent home (execd copied into bin/, its conf files) and starts execd, in `netns` if given. */
  static async start(install: Install, options: { netns?: string } = {}): Promise<RealExecd5> {
    const bridge = spawn('python3', [join(repoRoot, 'test/harness/wazuh5-bridge.py'), wazuh5Dir], { stdio: ['pipe', 'pipe', 'pipe'], env: agentEnv });
    const execd = new RealExecd5(bridge, install);
    await execd.request({ op: 'init', home: install.root }, 20_000);
    await execd.request({ op: 'start', netns: options.netns ?? null, timeout: 15 }, 20_000);
    return execd;
  }

  /** One datagram on queue/sockets/execq, as agentd sends a manager's document. */
  send(document: string): Promise<Answer> {
    return this.request({ op: 'send', text: document }, 5_000);
  }

  /** Waits for `regex` in ossec.log (execd's) or active-responses.log (ours), after the previous match there. */
  async wait(regex: string, log: 'ossec' | 'ar' = 'ar', timeoutSeconds = 10): Promise<string> {
    return (await this.request({ op: 'wait', regex, log, timeout: timeoutSeconds }, (timeoutSeconds + 5) * 1000)).match!;
  }

  /** SIGTERM, as wazuh-control stops it: execd runs every pending disable first. Its exit status. */
  stop(): Promise<number | null | undefined> {
    this.stopped ??= this.request({ op: 'stop', timeout: 20 }, 30_000).then((answer) => answer.status);
    return this.stopped;
  }

  /** Stops execd if it still runs, then the bridge. */
  async close(): Promise<void> {
    await this.stop().catch(() => undefined);
    this.bridge.stdin!.end();
  }

  /** What execd wrote to ossec.log since it started. */
  async ossecLog(): Promise<string> {
    // After stop(), the log is as execd left it.
    if (this.stopped) await this.stopped;
    return (await this.request({ op: 'logs' }, 5_000)).ossec ?? '';
  }

  private request(request: Record<string, unknown>, timeoutMs: number): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`wazuh5-bridge: no answer to ${String(request.op)} within ${timeoutMs} ms; driver said:\n${this.progress}`)), timeoutMs);
      this.answers.push((answer) => {
        clearTimeout(timer);
        if (answer.ok) resolve(answer);
        else reject(new Error(`wazuh5-bridge ${String(request.op)}: ${answer.error}; driver said:\n${this.progress}`));
      });
      this.bridge.stdin!.write(`${JSON.stringify(request)}\n`);
    });
  }
}
