import type { Backend } from '../backend.js';

/** What a preset implements: every verb but ensure, which for an API means "the config and secrets are usable", and inspect. */
export type PresetBackend = Omit<Backend, 'name' | 'ensure' | 'inspect'>;
