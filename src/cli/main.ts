/** `palisade`: the operator's command line. */
import { commandNames } from '../commands/index.js';
import { version } from '../version.js';

const usage = `Usage: palisade [--version | --help]

Palisade answers Wazuh active responses. Its AR commands are links to this binary in
/var/ossec/active-response/bin: ${commandNames.join(', ')}.
Test one by hand:
  echo '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"198.51.100.7"}}}}' | /var/ossec/active-response/bin/palisade-drop

Exit status: 0 success, 1 an error, 2 a usage error.`;

export async function runCli(args: readonly string[], invokedAs: string): Promise<number> {
  const [first] = args;
  if (first === '--version' || first === 'version') {
    process.stdout.write(`palisade ${version}\n`);
    return 0;
  }
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(`${usage}\n`);
    return first === undefined ? 2 : 0;
  }
  const known = invokedAs === 'palisade' ? '' : ` (invoked as "${invokedAs}", which is not a Palisade command name)`;
  process.stderr.write(`palisade: unknown command "${first}"${known}; see palisade --help\n`);
  return 2;
}
