/**
 * The one HTTPS client every preset talks through: bounded in time per request and per invocation, retrying
 * what can succeed on a second try, and turning every other answer into an HttpRequestError that carries the API's
 * own message (the HTTP backend reports it as its BackendError).
 *
 * Why node:https and not fetch: Node's fetch takes no per-request CA. Trusting a self-signed appliance would
 * need an undici Agent (undici is bundled inside Node but not importable without the npm package) or
 * NODE_EXTRA_CA_CERTS, which works only at process start and widens trust for the whole process.
 * https.request takes `ca` per call, so http.ca_file pins trust for these requests alone, with no dependency.
 *
 * Plain http:// goes through node:http, where the config allows it: to loopback (a local proxy), or elsewhere with
 * plain_http: true, which warns on every request.
 *
 * palisade-notify posts its webhooks through it too: the URL is then itself the credential, so the client names
 * only its host in whatever it writes (secretUrl), and the command logs one record per outcome (recordRequests).
 */
import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { version } from '../version.js';
import { HttpRequestError } from './errors.js';
import { isLoopbackUrl, type TransportLimits } from './http-transport.js';
import type { Logger } from './log.js';
import { scrubSecrets, secretForms } from './secret-forms.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; undefined when the body was empty (or not JSON where the caller allowed that). */
  body: unknown;
  text: string;
}

/** The answer that ended a request, with what it took to get it. */
export interface AnsweredRequest extends HttpResponse {
  /** Tries it took, and milliseconds from the first try to this answer. */
  attempts: number;
  elapsedMs: number;
}

export interface RequestSpec {
  method: HttpMethod;
  /** Path below the configured URL; build it with apiPath so that every value in it is encoded. Omitted: the URL itself, query included (a webhook). */
  path?: string;
  query?: Record<string, string>;
  body?: unknown;
  /** What the request serves, for the log record: add, delete, lookup, list, refresh, flush. */
  verb: string;
  address?: string;
  /** Answers other than 2xx that are outcomes, not failures: 404 on delete, a duplicate on add. */
  accept?: (response: HttpResponse) => boolean;
  /** A 2xx body that is not JSON is an error unless the caller never reads it (a generic API's "OK"). */
  bodyMayBeText?: boolean;
}

/** What the client needs of a config section: an http: preset or the notify: section. */
export type TransportConfig = TransportLimits & {
  url: string;
  /** Certificate verification off (http: only); warned about on every request. */
  insecure?: boolean | undefined;
  /** An http:// url off this host (http: only, validated there); warned about on every request. */
  plain_http?: boolean | undefined;
};

export interface ClientOptions {
  config: TransportConfig;
  /** Who answers, in log records and errors: the http preset, or the webhook's format. */
  label: string;
  /** The config section the settings come from, named in the fixes errors suggest: http.budget, notify.ca_file. */
  section: 'http' | 'notify';
  ctx: { log: Logger };
  /** Authorization and the like. Never copied into an error or a log record. */
  headers: Record<string, string>;
  /** The CA bundle from http.ca_file, already read. */
  ca?: string | undefined;
  /** The API's own words in an error body (Cloudflare errors[0].message, RouterOS detail ...). */
  describeError: (body: unknown) => string | undefined;
  /** Every secret the headers are built from, so that an API echoing them back cannot put them in an error. */
  secrets: string[];
  /** The URL is itself a credential (a Slack or Teams webhook): records and errors name its host, never its path or query. */
  secretUrl?: boolean;
  /** One http-request record per request (default). Off, the caller logs the outcome from the answer or the error. */
  recordRequests?: boolean;
}

/** Larger answers are not what these APIs send; reading on would only cost memory. */
const maxBodyBytes = 1 << 20;
const backoffBaseMs = 400;
const backoffCapMs = 4000;

/** Codes Node gives certificate failures; retrying cannot help, the fix is in the config. */
const certificateCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Connection failures worth another try: the far end may be restarting or briefly overloaded. */
const transientCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);

class RequestTimeout extends Error {
  override name = 'RequestTimeout';
}

class BodyTooLarge extends Error {
  override name = 'BodyTooLarge';
}

/**
 * Tagged template for API paths: the literal parts are ours, every interpolated value is percent-encoded, so a
 * value can never add a segment, a query or a fragment. apiPath`/rules/${address}` gives /rules/2001%3Adb8%3A%3A1.
 */
export function apiPath(parts: TemplateStringsArray, ...values: Array<string | number>): string {
  return parts.reduce((path, part, index) => path + part + (index < values.length ? encodeURIComponent(String(values[index])) : ''), '');
}

export class HttpClient {
  private readonly config: TransportConfig;
  private readonly deadline: number;
  private readonly base: URL;
  private readonly secretForms: string[];

  constructor(private readonly options: ClientOptions) {
    this.config = options.config;
    this.secretForms = [...new Set(options.secrets.flatMap(secretForms))].sort((a, b) => b.length - a.length);
    this.base = new URL(options.config.url);
    // The budget is per invocation: the backend, and so this client, lives for one.
    this.deadline = Date.now() + options.config.budget * 1000;
  }

  /** One logical request, retried as the config allows; answers 2xx (or accepted) or throws an HttpRequestError. */
  async request(spec: RequestSpec): Promise<AnsweredRequest> {
    const started = Date.now();
    const retried: string[] = [];
    if (this.config.insecure) {
      this.options.ctx.log.warn(
        { event: 'tls-verification-off', preset: this.options.label, host: this.base.host },
        `${this.options.section}.insecure is set: the certificate of this API is not checked, anyone on the path can impersonate it`,
      );
    }
    if (this.base.protocol === 'http:' && !isLoopbackUrl(this.base)) {
      this.options.ctx.log.warn(
        { event: 'plain-http', preset: this.options.label, host: this.base.host },
        `${this.options.section}.plain_http is set: requests to ${this.base.host}, credentials included, cross the network in clear; anyone on the path can read and change them`,
      );
    }
    for (let attempt = 1; ; attempt++) {
      const remaining = this.deadline - Date.now();
      if (remaining <= 0) {
        throw this.failure(spec, attempt - 1, started, undefined, `the invocation's ${this.options.section}.budget of ${this.config.budget} s is spent${retried.length > 0 ? ` (after ${retried.join(', ')})` : ''}`);
      }
      const timeoutMs = Math.min(this.config.timeout * 1000, remaining);
      let response: HttpResponse | undefined;
      let problem: string;
      let retryable: boolean;
      let waitMs: number | undefined;
      try {
        response = await this.send(spec, timeoutMs);
      } catch (error) {
        ({ problem, retryable } = this.describeTransport(error, timeoutMs));
        if (!retryable) throw this.failure(spec, attempt, started, undefined, problem);
      }
      if (response !== undefined) {
        const answered = (response.status >= 200 && response.status < 300) || spec.accept?.(response) === true;
        if (answered) {
          if (response.status < 300 && response.body === undefined && response.text.trim() !== '' && !spec.bodyMayBeText) {
            throw this.failure(spec, attempt, started, response.status, `answered with a body that is not JSON: ${this.snippet(response.text)}`);
          }
          this.record('info', spec, attempt, started, response.status, retried);
          return { ...response, attempts: attempt, elapsedMs: Date.now() - started };
        }
        problem = this.describeStatus(response);
        retryable = response.status === 429 || response.status >= 500;
        if (!retryable) throw this.failure(spec, attempt, started, response.status, problem);
        if (response.status === 429) waitMs = retryAfterMs(response.headers['retry-after']);
      }
      retried.push(problem!);
      if (attempt >= this.config.max_attempts) {
        throw this.failure(spec, attempt, started, response?.status, `gave up after ${attempt} attempts: ${retried.join('; ')}`);
      }
      const delay = waitMs ?? backoffMs(attempt);
      const left = this.deadline - Date.now();
      if (delay >= left) {
        const asked = waitMs !== undefined ? `the API asks to wait ${Math.ceil(delay / 1000)} s` : 'no time is left for another try';
        throw this.failure(spec, attempt, started, response?.status, `${problem!}; ${asked}, beyond the ${Math.max(0, Math.floor(left / 1000))} s left of ${this.options.section}.budget`);
      }
      await sleep(delay);
    }
  }

  private send(spec: RequestSpec, timeoutMs: number): Promise<HttpResponse> {
    const url = spec.path === undefined ? new URL(this.base) : new URL(this.base.pathname.replace(/\/$/, '') + spec.path, this.base);
    for (const [key, value] of Object.entries(spec.query ?? {})) url.searchParams.set(key, value);
    const payload = spec.body === undefined ? undefined : Buffer.from(JSON.stringify(spec.body));
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': `palisade/${version}`,
      ...this.options.headers,
    };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (error: Error | undefined, response?: HttpResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(response!);
      };
      const onResponse = (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBodyBytes) req.destroy(new BodyTooLarge(`the answer is larger than ${maxBodyBytes} bytes`));
          else chunks.push(chunk);
        });
        res.on('error', (error) => settle(error));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          settle(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: parseJson(text), text });
        });
      };
      // A fresh connection per request: an invocation sends one to three, and no pooled socket can keep
      // the process alive after its verb is done.
      const req: ClientRequest = url.protocol === 'http:'
        ? httpRequest(url, { method: spec.method, headers, agent: false }, onResponse)
        : httpsRequest(
            url,
            {
              method: spec.method,
              headers,
              agent: false,
              ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}),
              rejectUnauthorized: !this.config.insecure,
            },
            onResponse,
          );
      // One timer for the whole exchange: connect, TLS, request, and the last byte of the answer.
      const timer = setTimeout(() => req.destroy(new RequestTimeout()), timeoutMs);
      req.on('error', (error) => settle(error));
      req.end(payload);
    });
  }

  private describeTransport(error: unknown, timeoutMs: number): { problem: string; retryable: boolean } {
    const host = this.base.host;
    if (error instanceof RequestTimeout) {
      return { problem: `no answer from ${host} within ${(timeoutMs / 1000).toFixed(1)} s (${this.options.section}.timeout)`, retryable: true };
    }
    if (error instanceof BodyTooLarge) return { problem: `${host}: ${error.message}`, retryable: false };
    const { code = '', message } = error as NodeJS.ErrnoException;
    if (certificateCodes.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) {
      const caFile = `${this.options.section}.ca_file`;
      const fix = this.config.ca_file !== undefined
        ? `${caFile} (${this.config.ca_file}) does not hold the CA that signed it`
        : `set ${caFile} to the PEM of the CA that signed it`;
      return { problem: `TLS: the certificate of ${host} cannot be trusted (${code}: ${message}); ${fix}`, retryable: false };
    }
    return { problem: `cannot reach ${host}: ${code || 'error'} ${message}`.trim(), retryable: transientCodes.has(code) || code === '' };
  }

  private describeStatus(response: HttpResponse): string {
    // Scrubbed before anything quotes or escapes it: an escaped secret no longer matches its plain form.
    const text = this.scrub(response.text);
    const body = parseJson(text);
    const said = body !== undefined ? this.options.describeError(body) : undefined;
    const words = said ?? (text.trim() !== '' ? this.snippet(text) : 'no message');
    let hint = '';
    if (response.status === 401) hint = '; the credentials were refused: check the token or key and secret files';
    if (response.status === 403) hint = '; the credentials were refused or lack the permission for this call';
    return `HTTP ${response.status}: ${this.scrub(words)}${hint}`;
  }

  private failure(spec: RequestSpec, attempts: number, started: number, status: number | undefined, problem: string): HttpRequestError {
    const message = `${this.options.label}: ${spec.verb}${spec.address ? ` ${spec.address}` : ''} failed (${spec.method} ${this.target(spec)}): ${this.scrub(problem)}`;
    this.record('error', spec, attempts, started, status, [], message);
    return new HttpRequestError(message, {
      tool: `https:${this.options.label}`,
      stderr: this.scrub(problem),
      status: status ?? null,
      attempts,
      elapsed_ms: Date.now() - started,
    });
  }

  /** What a record or an error may say the request went to: its path below the URL, or only the host of a secret URL. */
  private target(spec: RequestSpec): string {
    if (this.options.secretUrl) return this.base.host;
    return spec.path ?? this.base.pathname;
  }

  /** The one record per request: what, to whom, how it ended, how many tries, how long. */
  private record(level: 'info' | 'error', spec: RequestSpec, attempts: number, started: number, status: number | undefined, retried: string[], message?: string) {
    if (this.options.recordRequests === false) return;
    this.options.ctx.log[level](
      {
        event: 'http-request',
        preset: this.options.label,
        verb: spec.verb,
        ...(spec.address !== undefined ? { address: spec.address } : {}),
        method: spec.method,
        ...(this.options.secretUrl ? { host: this.base.host } : { path: this.target(spec) }),
        status: status ?? null,
        attempts,
        elapsed_ms: Date.now() - started,
        ...(retried.length > 0 ? { retried } : {}),
      },
      message,
    );
  }

  private snippet(text: string): string {
    const line = text.replace(/\s+/g, ' ').trim();
    return JSON.stringify(line.length > 160 ? `${line.slice(0, 160)}...` : line);
  }

  private scrub(text: string): string {
    return scrubSecrets(text, this.secretForms);
  }
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Retry-After as seconds or an HTTP date; undefined when absent or unreadable (backoff applies then). */
export function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Exponential with jitter: half fixed, half random, so that many agents hit by one outage do not retry in step. */
function backoffMs(attempt: number): number {
  const ceiling = Math.min(backoffCapMs, backoffBaseMs * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** The usual places REST APIs put their words: message, error, detail, errors[0].message, error.message (Azure, Teams Workflows). */
export function usualErrorMessage(body: unknown): string | undefined {
  if (typeof body === 'string') return body;
  const record = (body ?? {}) as { message?: unknown; error?: unknown; detail?: unknown; errors?: Array<{ message?: unknown }> };
  const nested = (record.error ?? {}) as { message?: unknown };
  for (const candidate of [record.message, record.error, record.detail, record.errors?.[0]?.message, nested.message]) {
    if (typeof candidate === 'string') return candidate;
  }
  return undefined;
}

/** Reads a dotted path (data.rules) out of a JSON value. */
export function pick(value: unknown, path: string | undefined): unknown {
  if (path === undefined) return value;
  let node = value;
  for (const key of path.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
