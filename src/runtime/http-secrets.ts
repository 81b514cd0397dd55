/**
 * Credentials for the HTTP presets and the notify webhook. They come from a file only root can read, or from the
 * config file when that file is itself private; never from extra_args, which Wazuh writes to active-responses.log
 * verbatim. Each value is handed to the logger's scrubber the moment it is read.
 */
import { readFileSync, statSync } from 'node:fs';
import { CredentialError } from './errors.js';
import type { Logger } from './log.js';
import { minimumSecretLength } from './secret-forms.js';
import { describeMode, describeTrustProblem, trustProblem, type FileProblem } from './trusted-file.js';


/** What reading a secret needs: the logger to register it with, and whether the config file is private. */
interface SecretContext {
  log: Logger;
  /** Permission bits of the config file (BackendContext.configFileMode); unknown counts as not private. */
  configFileMode?: number | undefined;
}

/** The config section a secret's keys live in, for messages that name the key to fix: http.token_file, notify.url_file. */
type Section = 'http' | 'notify';

function refuse(message: string): CredentialError {
  return new CredentialError(message, { tool: 'palisade' });
}

/** Why a secret file cannot be used: missing, not a file, or not root's alone (trusted-file.ts). doctor asks too. */
export function secretFileProblem(path: string, label: string): FileProblem | undefined {
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    return { problem: `cannot read ${label}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` };
  }
  if (!stat.isFile()) return { problem: `${label} is not a regular file` };
  return trustProblem(stat, label, path, { secret: true });
}

/** The trimmed content of a secret file, after checking that nobody but root can read or change it. */
export function readSecretFile(path: string, option: string, ctx: SecretContext, section: Section = 'http'): string {
  const problem = secretFileProblem(path, `${section}.${option} ${path}`);
  if (problem) throw refuse(describeTrustProblem(problem));
  const text = readFileSync(path, 'utf8').trim();
  if (text.length > 0) ctx.log.addSecret(text);
  return text;
}

/** The secret written in the config itself, accepted only when the config file is private. */
export function inlineSecret(value: string, option: string, fileOption: string, ctx: SecretContext, section: Section = 'http'): string {
  ctx.log.addSecret(value);
  const mode = ctx.configFileMode;
  if (mode === undefined) {
    throw refuse(`${section}.${option} is written in the config, but the config file's permissions are unknown; move it to ${section}.${fileOption} (mode 0600)`);
  }
  if ((mode & 0o077) !== 0) {
    throw refuse(
      `${section}.${option} is written in a config file open to group or others (mode ${describeMode(mode)}); chmod 600 the config file or move the secret to ${section}.${fileOption}`,
    );
  }
  return value;
}

/** One value from a file or the config: registered as a secret, one line, long enough to be scrubbed. */
export function resolveSecret(
  source: { file: string | undefined; inline: string | undefined; fileOption: string; inlineOption: string; section?: Section },
  ctx: SecretContext,
): string {
  const section = source.section ?? 'http';
  const value =
    source.file !== undefined
      ? readSecretFile(source.file, source.fileOption, ctx, section)
      : inlineSecret(source.inline ?? '', source.inlineOption, source.fileOption, ctx, section);
  checkSecret(value, source.file !== undefined ? `${section}.${source.fileOption} ${source.file}` : `${section}.${source.inlineOption}`);
  return value;
}

export function checkSecret(value: string, origin: string): void {
  if (value.length < minimumSecretLength) throw refuse(`${origin} holds a secret shorter than ${minimumSecretLength} characters`);
  if (/[\r\n]/.test(value)) throw refuse(`${origin} must hold the secret alone, on one line`);
}

/** HTTP Basic for user:secret; the encoded form is registered too, since that is what travels. */
export function basicAuthorization(user: string, secret: string, ctx: SecretContext): string {
  const encoded = Buffer.from(`${user}:${secret}`).toString('base64');
  ctx.log.addSecret(encoded);
  return `Basic ${encoded}`;
}

/** The CA bundle of ca_file; public material, but a missing or empty file is a config error worth naming. */
export function readCaFile(path: string | undefined, section: Section = 'http'): string | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw refuse(`cannot read ${section}.ca_file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw refuse(`${section}.ca_file ${path} holds no PEM certificate`);
  return text;
}
