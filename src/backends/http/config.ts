import * as z from 'zod/mini';

/** The `http:` section of etc/palisade.yml. Filled in by the HTTP backend. */
export const httpConfigSchema = z.strictObject({
  preset: z.enum(['generic', 'cloudflare', 'opnsense', 'mikrotik']),
  url: z.url(),
});

export type HttpConfig = z.infer<typeof httpConfigSchema>;
