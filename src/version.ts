declare const PALISADE_VERSION: string;

/** Set at build time by esbuild (and by vitest's define for tests). */
export const version: string = typeof PALISADE_VERSION === 'string' ? PALISADE_VERSION : '0.0.0-dev';
