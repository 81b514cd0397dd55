/**
 * What every verb gets: the install dir it acts on, the output, and (loaded on first use) the config and
 * a logger writing to logs/active-responses.log as `active-response/bin/palisade`, the name Wazuh's rules
 * see for manual actions.
 */
import { join } from 'node:path';
import type { BlockingEnv } from '../commands/blocking.js';
import { configCachePath, configPath, fileMode, fleetConfigPath, loadLayeredConfig, type Config, type LoadedConfig } from '../runtime/config.js';
import { warnAboutFleetLayer } from '../runtime/fleet-config.js';
import { CliFailure } from '../runtime/errors.js';
import { createLogger, type Logger } from '../runtime/log.js';
import type { Output } from './output.js';

export { CliFailure };

export interface CliContext {
  readonly installDir: string;
  readonly out: Output;
  config(): Promise<Config>;
  /** The config with the layer of each value (status, doctor). */
  layeredConfig(): Promise<LoadedConfig>;
  /** Config and logger, as the blocking code path takes them. */
  env(): Promise<BlockingEnv>;
  close(): void;
}

export const cliName = 'palisade';

export function createCliContext(installDir: string, out: Output): CliContext {
  let layered: Promise<LoadedConfig> | undefined;
  let log: Logger | undefined;
  const ctx: CliContext = {
    installDir,
    out,
    layeredConfig: () => (layered ??= loadLayeredConfig(configPath(installDir), configCachePath(installDir), fleetConfigPath(installDir))),
    config: async () => (await ctx.layeredConfig()).config,
    async env() {
      const loaded = await ctx.layeredConfig();
      if (!log) {
        log = createLogger({ path: join(installDir, 'logs/active-responses.log'), argv0: cliName });
        // A verb that acts says what the fleet layer refused, as an AR command does.
        warnAboutFleetLayer(loaded.fleet, log);
      }
      return { name: cliName, installDir, config: loaded.config, configFileMode: fileMode(configPath(installDir)), log };
    },
    close: () => log?.close(),
  };
  return ctx;
}
