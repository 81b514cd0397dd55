/**
 * How patient an HTTPS peer gets: the limits the http: firewall presets and the notify: webhooks share, so that
 * both are bounded and retried by the same rules. A module of its own because the preset schemas are large and
 * a host that only notifies should not build them.
 *
 * Durations are plain numbers of seconds: sub-second timeouts are legitimate for an API on the local network.
 */
import { isAbsolute } from 'node:path';
import * as z from 'zod/mini';

export const numberBetween = (min: number, max: number) => z.number().check(z.gt(min), z.lte(max));

export const absolutePathSchema = z.string().check(z.refine(isAbsolute, 'must be an absolute path'));

export const transportLimitsShape = {
  /** Seconds one request may take, connection included. */
  timeout: z._default(numberBetween(0, 120), 5),
  /** Seconds the whole invocation may spend on the peer, retries included; below execd's patience. */
  budget: z._default(numberBetween(0, 600), 20),
  /** Tries per request when the peer answers 429 or 5xx or the connection fails. */
  max_attempts: z._default(z.int().check(z.gte(1), z.lte(10)), 3),
  /** PEM file of the CA that signed the peer's certificate; trusted instead of the system store. */
  ca_file: z.optional(absolutePathSchema),
};

/**
 * A plain http:// peer on this host (a local proxy that speaks TLS onwards): nothing crosses the network in clear.
 * Literal loopback addresses, and localhost, which /etc/hosts (root's) maps there; the URL parser has already
 * made 127.1 and [0::1] canonical.
 */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const transportLimitsSchema = z.object(transportLimitsShape);
export type TransportLimits = z.infer<typeof transportLimitsSchema>;
