/**
 * Prints the AR command names, one a line: the links the packages install. The source's command table
 * (src/commands/index.ts) is the one list, so a new command needs no packaging change.
 *   esbuild scripts/command-names.ts --bundle --platform=node --format=esm | node --input-type=module
 */
import { commandNames } from '../src/commands/index.js';

process.stdout.write(`${commandNames.join('\n')}\n`);
