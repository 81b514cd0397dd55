/**
 * The binary's build: reproducible from the same sources and the same pinned Bun, and made deaf to the
 * environment (test/binary-environment.test.ts shows each variable refused by the built binary).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, testRoot } from './harness/bundle.js';
import { distBinary } from './harness/install.js';

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('the binary build', () => {
  it('is reproducible: building again gives the same bytes as dist/palisade', () => {
    const out = join(testRoot, `rebuild-${process.pid}`);
    mkdirSync(out, { recursive: true });
    try {
      execFileSync(join(repoRoot, 'scripts/build/build.sh'), ['bin/palisade.ts', join(out, 'palisade')], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000 });
      expect(sha256(join(out, 'palisade'))).toBe(sha256(distBinary));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('pins its runtime exactly: one Bun version, with its integrity, in package-lock.json', () => {
    const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string; integrity?: string }> };
    const wanted = manifest.devDependencies['@oven/bun-linux-x64-baseline'];
    expect(wanted).toMatch(/^\d+\.\d+\.\d+$/);
    const locked = lock.packages['node_modules/@oven/bun-linux-x64-baseline'];
    expect(locked?.version).toBe(wanted);
    expect(locked?.integrity).toMatch(/^sha512-/);
    const ran = execFileSync(join(repoRoot, 'node_modules/@oven/bun-linux-x64-baseline/bin/bun'), ['--version'], { encoding: 'utf8' }).trim();
    expect(ran).toBe(wanted);
  });

  it('refuses to harden a binary whose layout it does not know, rather than leave a variable honoured', () => {
    const notBun = join(testRoot, `not-bun-${process.pid}`);
    execFileSync('cp', ['/bin/true', notBun]);
    try {
      let failure: { status: number; stderr: string } | undefined;
      try {
        execFileSync(process.execPath, [join(repoRoot, 'scripts/build/harden-bun-binary.mjs'), notBun], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
      } catch (error) {
        failure = error as { status: number; stderr: string };
      }
      expect(failure?.status).toBe(1);
      expect(failure?.stderr).toMatch(/BUN_BE_BUN \[cstr\]: expected exactly 1 occurrence, found 0/);
    } finally {
      rmSync(notBun, { force: true });
    }
  });
});
