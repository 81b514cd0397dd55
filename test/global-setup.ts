/**
 * Once per vitest run: give this run's network namespaces a prefix of their own, and at the end remove any
 * that a worker killed by a timeout could not destroy itself. Other runs' namespaces are never touched.
 */
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';

export default function setup(): () => Promise<void> {
  const prefix = `pal${randomBytes(2).toString('hex')}`;
  process.env.PALISADE_LAB_PREFIX = prefix;
  return async () => {
    const { stdout } = await execa('ip', ['netns', 'list'], { timeout: 10_000, reject: false });
    const leftovers = String(stdout)
      .split('\n')
      .map((line) => line.split(' ')[0] ?? '')
      .filter((name) => name.startsWith(`${prefix}-`));
    for (const name of leftovers) await execa('ip', ['netns', 'delete', name], { timeout: 10_000, reject: false });
  };
}
