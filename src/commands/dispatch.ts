/**
 * One AR invocation, as Wazuh's own binaries run one, byte for byte where execd or
 * Wazuh's decoders can see it:
 *
 *   Starting → read one line → echo it → validate → [add: check_keys → read execd's reply → echo it]
 *   → act → Ended
 *
 * The same in both dialects (4.x's message, 5.x's finding document: message.ts), as both stock libraries log.
 *
 * Exit statuses: 0 done (also: skipped, aborted), 1 a config or firewall error, 255 bad input.
 */
import { fstatSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigError, configCachePath, configPath, fileMode, fleetConfigPath, loadConfig } from '../runtime/config.js';
import { LockError } from '../runtime/errors.js';
import { withSbinOnPath } from '../runtime/exec.js';
import { findInstallDir } from '../runtime/install-dir.js';
import { createLogger, tellOperator, type Logger } from '../runtime/log.js';
import { checkKeysLine, dialectFields, parseInput, parseReply, wazuhMessages, type ArRequest, type Dialect } from '../runtime/message.js';
import { looksLikeUrl, optionWords, OptionsError, parseCommandOptions } from '../runtime/options.js';
import { LineReader } from '../runtime/stdin.js';
import type { ArCommand, CommandContext } from './command.js';

export const exitStatus = { ok: 0, failed: 1, invalidInput: 255 } as const;

function describeError(error: unknown): Record<string, unknown> {
  const { name, message } = error as Error;
  const details = (error as { details?: Record<string, unknown> }).details;
  return { error: name, reason: message, ...(details ?? {}) };
}

export async function runArCommand(loadCommand: () => Promise<ArCommand<unknown>>, argv0: string): Promise<number> {
  const name = basename(argv0);
  const installDir = findInstallDir();
  try {
    process.chdir(installDir);
  } catch (error) {
    tellOperator(name, `cannot enter the Wazuh install dir ${installDir}: ${(error as Error).message}`);
    return exitStatus.failed;
  }
  withSbinOnPath();
  const log = createLogger({ path: join(installDir, 'logs/active-responses.log'), argv0 });
  try {
    return await invoke(loadCommand, name, installDir, log);
  } finally {
    log.close();
  }
}

async function invoke(loadCommand: () => Promise<ArCommand<unknown>>, name: string, installDir: string, log: Logger): Promise<number> {
  const tell = (text: string) => tellOperator(name, text);
  const refuse = (wazuhMessage: string | undefined, detail: string, status: number) => {
    if (wazuhMessage) log.plain(wazuhMessage);
    log.error({ event: 'error', reason: detail });
    tell(`refused: ${detail}`);
    return status;
  };

  log.plain(wazuhMessages.starting);
  const reader = new LineReader();
  const first = reader.readLine();
  if (first.kind === 'eof') return refuse(wazuhMessages.cannotRead, 'stdin ended before a message arrived', exitStatus.invalidInput);
  if (first.kind === 'too-long') return refuse(wazuhMessages.invalidInput, 'the message is longer than 64 KiB', exitStatus.invalidInput);
  const input = parseInput(first.text, { execdAwaitsKeys: stdoutIsPipe });
  if (input.ok) hideUrlArgs(input.request.extraArgs, log);
  // Wazuh logs the line with its newline, which leaves a blank line after it; the decoders expect that.
  log.plain(first.terminated ? `${first.text}\n` : first.text);
  const ignored = reader.discardBuffered();
  if (ignored > 0) log.warn({ event: 'ignored-input', bytes: ignored }, 'only the first line is the message; the rest was ignored');

  if (!input.ok) return refuse(input.wazuhMessage, input.detail, exitStatus.invalidInput);
  const { request } = input;
  const { verb } = request;

  let config;
  const configFile = configPath(installDir);
  try {
    config = await loadConfig(configFile, configCachePath(installDir), fleetConfigPath(installDir), log);
  } catch (error) {
    if (error instanceof ConfigError) return refuse(undefined, `configuration: ${error.message}`, exitStatus.failed);
    throw error;
  }
  let options;
  try {
    options = parseCommandOptions(optionWords(request.extraArgs));
  } catch (error) {
    if (error instanceof OptionsError) return refuse(undefined, `${optionsOrigin[request.dialect]}: ${error.message}`, exitStatus.failed);
    throw error;
  }

  const command = await loadCommand();
  const ctx: CommandContext = {
    name,
    installDir,
    config,
    configFileMode: fileMode(configFile),
    options,
    request,
    alert: request.alert,
    fields: dialectFields[request.dialect],
    log,
    tell,
  };
  const targeting = command.target(ctx);
  if (!targeting.ok) return refuse(targeting.wazuhMessage, targeting.detail, exitStatus.invalidInput);
  const { target, keys } = targeting;

  try {
    if (verb === 'add') {
      const skip = await command.skipReason?.(ctx, target);
      if (skip) {
        log.info({ event: command.skipEvent ?? 'skipped-allowlisted', keys, reason: skip });
        tell(`skipped: ${skip}`);
        log.plain(wazuhMessages.ended);
        return exitStatus.ok;
      }
      if (command.stateful) {
        const decision = handshake(name, keys, request.dialect, reader, log, tell);
        if (decision === 'invalid') return exitStatus.invalidInput;
        if (decision === 'abort') {
          await command.refresh?.(ctx, target);
          log.plain(wazuhMessages.aborted);
          return exitStatus.ok;
        }
      }
      await command.add(ctx, target);
    } else {
      await command.delete(ctx, target);
    }
  } catch (error) {
    const described = describeError(error);
    if (error instanceof LockError) log.plain(wazuhMessages.lockFailed);
    log.error({ event: 'error', keys, ...described });
    tell(`failed: ${String(described.reason)}`);
    return exitStatus.failed;
  }
  log.plain(wazuhMessages.ended);
  return exitStatus.ok;
}

/** Where each dialect's options came from, for a refusal. */
const optionsOrigin: Record<Dialect, string> = { '4.x': '<extra_args>', '5.x': 'wazuh.active_response.extra_arguments' };

/**
 * Whether execd reads our stdout: a pipe on enable/add (it waits there for check_keys), /dev/null on a disable
 * or delete (a terminal, run by hand). Only a 5.x document that reads the same both ways needs it (message.ts,
 * execdVerb). A socket counts as a pipe: that is what Node's child_process (the simulator) gives.
 */
function stdoutIsPipe(): boolean {
  try {
    const stat = fstatSync(1);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}

/**
 * A URL in the options is refused (options.ts), and may be a webhook's credential: it must not reach the log
 * in the echoed line first, in whichever form the line spells it (the logger hides every form, secret-forms.ts). 5.x's one string is hidden whole when any of
 * its words is a URL (or it cannot be split, and holds "://"): quotes may have joined the URL to other words.
 */
function hideUrlArgs(extraArgs: ArRequest['extraArgs'], log: Logger): void {
  if (typeof extraArgs === 'string') {
    let words: readonly string[];
    try {
      words = optionWords(extraArgs) as string[];
    } catch {
      if (extraArgs.includes('://')) log.addSecret(extraArgs);
      return;
    }
    if (words.some(looksLikeUrl)) log.addSecret(extraArgs);
    for (const word of words) if (looksLikeUrl(word)) log.addSecret(word);
    return;
  }
  for (const arg of extraArgs ?? []) {
    if (typeof arg === 'string' && looksLikeUrl(arg)) log.addSecret(arg);
  }
}

/**
 * check_keys, then execd's one-line verdict. execd never closes our stdin before answering, so end of
 * input here means a person piped the message in by hand: they mean "do it", so it counts as continue.
 */
function handshake(name: string, keys: string[], dialect: Dialect, reader: LineReader, log: Logger, tell: (text: string) => void): 'continue' | 'abort' | 'invalid' {
  const line = checkKeysLine(name, keys);
  log.plain(line);
  try {
    writeSync(1, `${line}\n`);
  } catch {
    // stdout closed: nobody will answer; the read below sees end of input.
  }
  const reply = reader.readLine();
  if (reply.kind === 'eof') {
    log.info({ event: 'manual-run', keys }, "stdin closed before execd's reply: a manual run, acting as on continue");
    tell('no reply from execd (run by hand): acting as on continue');
    return 'continue';
  }
  if (reply.kind === 'too-long') {
    log.plain(wazuhMessages.invalidInput);
    return 'invalid';
  }
  log.plain(reply.terminated ? `${reply.text}\n` : reply.text);
  const verdict = parseReply(reply.text, dialect);
  if (!verdict.ok) {
    log.plain(verdict.wazuhMessage);
    return 'invalid';
  }
  return verdict.decision;
}
