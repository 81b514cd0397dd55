/**
 * Palisade's own errors: each message says what went wrong and what to do, so the dispatcher's error record and
 * the CLI print it as it is, where anything else is a bug and keeps its stack. One module importing nothing, so
 * that main.ts and dispatch.ts can tell them apart with instanceof without loading the code that throws them.
 * The class's name is the `error` of the log record and the `kind` of `--json` output.
 */

export class PalisadeError extends Error {
  override name = 'PalisadeError';
}

/** What the error record carries besides the message: the tool that refused, its exit status, its words. */
export interface ToolDetails {
  tool?: string;
  exitCode?: number | undefined;
  stderr?: string | undefined;
}

/** An error whose record carries the program or file behind it (ToolDetails) besides the message. */
export class ToolDetailError extends PalisadeError {
  constructor(
    message: string,
    readonly details: ToolDetails = {},
  ) {
    super(message);
  }
}

/** etc/palisade.yml (or a layer of it) is not what Palisade can run with. */
export class ConfigError extends PalisadeError {
  override name = 'ConfigError';
}

/** The state lock stayed held by another invocation for longer than Palisade waits. */
export class LockError extends PalisadeError {
  override name = 'LockError';
}

/** A firewall refused or failed: thrown by backends/ only, carrying the tool's own words. */
export class BackendError extends ToolDetailError {
  override name = 'BackendError';
}

/** `backend: auto` found no firewall tool on this host. */
export class NoFirewallError extends PalisadeError {
  override name = 'NoFirewallError';
}

/** A program Palisade ran (runtime/exec.ts) exited with a failure: the message is its argv and first stderr line. */
export class ToolRefusedError extends ToolDetailError {
  override name = 'ToolRefusedError';
}

/** palisade-disable-account cannot lock or unlock this account safely. */
export class AccountError extends PalisadeError {
  override name = 'AccountError';
}

/** palisade-notify has no usable webhook, or the webhook refused the notification. */
export class NotifyError extends ToolDetailError {
  override name = 'NotifyError';
}

/** A CLI verb could not do its work: the message says what went wrong and what to do. Exit status 1. */
export class CliFailure extends PalisadeError {
  override name = 'CliFailure';
}

/** The AR under `palisade simulate` broke execd's protocol. */
export class ProtocolViolation extends PalisadeError {
  override name = 'ProtocolViolation';
}

/**
 * An HTTPS request (http-client.ts) failed for good. Its details, which the error record carries, add the last
 * status, the tries and the time. The HTTP backend reports it as a BackendError with the same message and details.
 */
export class HttpRequestError extends PalisadeError {
  constructor(
    message: string,
    readonly details: { tool: string; stderr: string; status: number | null; attempts: number; elapsed_ms: number },
  ) {
    super(message);
    this.name = 'HttpRequestError';
  }
}

/** A credential or CA file (http-secrets.ts) cannot be used: missing, open to others, too short. */
export class CredentialError extends ToolDetailError {
  override name = 'CredentialError';
}
