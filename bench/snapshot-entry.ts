/**
 * bin/palisade.ts for a startup snapshot, to measure whether one pays (bench/RESULTS.md). Everything the
 * add path imports is initialised while the snapshot is built, and main runs after deserialisation.
 *   SEA_SNAPSHOT=1 scripts/build-sea.sh bench/snapshot-entry.ts .build/bench/palisade-snapshot
 */
import { basename } from 'node:path';
import { startupSnapshot } from 'node:v8';
import { commands } from '../src/commands/index.js';
import { runArCommand } from '../src/runtime/dispatch.js';

// Initialise the lazily imported command and backend modules now, so their state is in the snapshot.
void commands['palisade-drop']?.();
void import('../src/backends/dry-run.js');

startupSnapshot.setDeserializeMainFunction(() => {
  const command = commands[basename(process.argv0)];
  if (!command) {
    process.stderr.write('palisade (snapshot bench build): only the AR commands are wired\n');
    process.exit(2);
  }
  runArCommand(command, process.argv0).then(
    (status) => process.exit(status),
    (error: unknown) => {
      process.stderr.write(`palisade: ${String(error)}\n`);
      process.exit(1);
    },
  );
});
