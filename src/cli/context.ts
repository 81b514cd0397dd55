/**
 * What every verb gets: the install dir it acts on, the output, and (loaded on first use) the config and
 * a logger writing to logs/active-responses.log as `active-response/bin/palisade`, the name Wazuh's rules
 * see for manual actions.
 */
import { join } from 'node:path';
import type { BlockingEnv } from '../commands/blocking.js';
import { configCachePath, configPath, fileMode, loadConfig, type Config } from '../runtime/config.js';
import { createLogger, type Logger } from '../runtime/log.js';
import type { Output } from './output.js';

/** A verb could not do its work: the message says what went wrong and what to do. Exit status 1. */
export class CliFailure extends Error {
  override name = 'CliFailure';
}

export interface CliContext {
  readonly installDir: string;
  readonly out: Output;
  config(): Promise<Config>;
  /** Config and logger, as the blocking code path takes them. */
  env(): Promise<BlockingEnv>;
  close(): void;
}

export const cliName = 'palisade';

export function createCliContext(installDir: string, out: Output): CliContext {
  let config: Promise<Config> | undefined;
  let log: Logger | undefined;
  const ctx: CliContext = {
    installDir,
    out,
    config: () => (config ??= loadConfig(configPath(installDir), configCachePath(installDir))),
    async env() {
      const loaded = await ctx.config();
      log ??= createLogger({ path: join(installDir, 'logs/active-responses.log'), argv0: cliName });
      return { name: cliName, installDir, config: loaded, configFileMode: fileMode(configPath(installDir)), log };
    },
    close: () => log?.close(),
  };
  return ctx;
}
