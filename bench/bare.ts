/**
 * The floor for bench/startup.ts: a binary that reads its first chunk of stdin, as Palisade reads the
 * message, and exits, built exactly as dist/palisade is. The difference between the two is what Palisade
 * itself costs per alert.
 */
import { readSync } from 'node:fs';

readSync(0, Buffer.alloc(65_536));
process.exit(0);
