/**
 * A throwaway Wazuh agent install dir holding dist/palisade and its links, laid out as the packages lay
 * it out: <root>/active-response/bin/palisade-drop, <root>/logs/active-responses.log, <root>/etc/.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandNames } from '../../src/commands/index.js';
import { testRoot, repoRoot } from './bundle.js';

export const distBinary = join(repoRoot, 'dist/palisade');
export const wazuhLogLine = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d active-response\/bin\/\S+: /;

/** Every line of a log in Wazuh's format, blank lines included; none when the file is not there. */
export function readLogLines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').slice(0, -1) : [];
}

/** The JSON records of a log in Wazuh's format (an install's, or a backend runner's RUNNER_LOG), parsed. */
export function readLogRecords(path: string): Array<Record<string, unknown>> {
  return readLogLines(path)
    .map((line) => line.replace(wazuhLogLine, ''))
    .filter((rest) => rest.startsWith('{"level"'))
    .map((rest) => JSON.parse(rest) as Record<string, unknown>);
}

/**
 * The state as its files hold it, in the order of the entry files' names. Written here from the layout, not
 * through src/runtime/state.ts, so that a test checks what is on disk and not what the store believes.
 */
export function readStateFiles(blocksDir: string): Array<Record<string, unknown>> {
  const names = existsSync(blocksDir) ? readdirSync(blocksDir) : [];
  const entries = new Map<string, Record<string, unknown>>();
  for (const name of names.filter((name) => name.endsWith('.json'))) entries.set(name, JSON.parse(readFileSync(join(blocksDir, name), 'utf8')) as Record<string, unknown>);
  for (const bulk of names.filter((name) => name.endsWith('.bulk'))) {
    const backend = bulk.slice(0, -'.bulk'.length);
    for (const line of readFileSync(join(blocksDir, bulk), 'utf8').split('\n').filter(Boolean)) {
      const tab = line.indexOf('\t');
      // A line blanked in place is a removed entry.
      if (line.slice(tab + 1).trim() === '') continue;
      const name = `${backend}-${line.slice(0, tab).replace('/', '_')}.json`;
      if (!entries.has(name)) entries.set(name, JSON.parse(line.slice(tab + 1)) as Record<string, unknown>);
    }
  }
  return [...entries.keys()].sort().map((name) => entries.get(name)!);
}

export interface Install {
  /** The install dir, what /var/ossec is on an agent. */
  readonly root: string;
  readonly logFile: string;
  /** var/palisade/blocks: a JSON file per block, and a sorted bulk file per backend for lists. */
  readonly blocksDir: string;
  /** The path of one command's link. */
  commandPath(name: string): string;
  writeConfig(yaml: string): void;
  writeOssecConf(xml: string): void;
  /** Every line of active-responses.log, blank lines included. */
  logLines(): string[];
  /** The JSON records of the log, parsed. */
  logRecords(): Array<Record<string, unknown>>;
  /** Every state entry as stored, read from the files themselves: an address's own file over its bulk line. */
  stateEntries(): Array<Record<string, unknown>>;
  remove(): void;
}

export function createInstall(options: { config?: string; commands?: readonly string[] } = {}): Install {
  if (!existsSync(distBinary)) throw new Error(`${distBinary} is missing: run make build first (make test does)`);
  const root = join(testRoot, `install-${randomBytes(4).toString('hex')}`, 'var', 'ossec');
  const bin = join(root, 'active-response', 'bin');
  for (const dir of [bin, join(root, 'logs'), join(root, 'etc'), join(root, 'var', 'palisade')]) mkdirSync(dir, { recursive: true });
  linkSync(distBinary, join(bin, 'palisade'));
  // Every command of the source's table: what the packages link.
  const names = options.commands ?? commandNames;
  for (const name of names) linkSync(distBinary, join(bin, name));
  const install = openInstall(root);
  if (options.config !== undefined) install.writeConfig(options.config);
  return install;
}

/**
 * An Install over an install dir that already exists, such as the /var/ossec a package put into a
 * throwaway root (test/packaging.test.ts). remove() deletes <root>/../.., the throwaway root.
 */
export function openInstall(root: string): Install {
  const bin = join(root, 'active-response', 'bin');
  const logFile = join(root, 'logs', 'active-responses.log');
  const blocksDir = join(root, 'var', 'palisade', 'blocks');
  const install: Install = {
    root,
    logFile,
    blocksDir,
    commandPath: (name) => join(bin, name),
    writeConfig: (yaml) => writeFileSync(join(root, 'etc', 'palisade.yml'), yaml, { mode: 0o640 }),
    writeOssecConf: (xml) => writeFileSync(join(root, 'etc', 'ossec.conf'), xml),
    logLines: () => readLogLines(logFile),
    logRecords: () => readLogRecords(logFile),
    stateEntries: () => readStateFiles(blocksDir),
    remove: () => rmSync(join(root, '..', '..'), { recursive: true, force: true }),
  };
  return install;
}
