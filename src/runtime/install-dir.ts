/**
 * Where the Wazuh agent lives. Like Wazuh's own w_homedir: the real path of the running executable, cut at
 * /active-response, so /var/ossec/active-response/bin/palisade-drop → /var/ossec. Every other path
 * (logs/active-responses.log, etc/ossec.conf, etc/palisade.yml) is relative to it, as execd's cwd is.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';

const marker = '/active-response/';

function cutAtActiveResponse(path: string): string | undefined {
  const at = path.lastIndexOf(marker);
  return at > 0 ? path.slice(0, at) : undefined;
}

function realPathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * The SEA binary is process.execPath. Hard links keep the path they were invoked by, and a symlink
 * (/usr/sbin/palisade) resolves to the real binary, so both land inside the install dir.
 * Run from source (tests of the runtime), the script path in argv[1] says where we are.
 */
export function findInstallDir(): string {
  const candidates = [process.execPath, process.argv[1] ?? '', process.argv0];
  for (const candidate of candidates) {
    if (!candidate.includes('/')) continue;
    const found = cutAtActiveResponse(realPathOrSelf(resolve(candidate))) ?? cutAtActiveResponse(resolve(candidate));
    if (found) return found;
  }
  return process.env.WAZUH_HOME ?? '/var/ossec';
}

/** Same as findInstallDir, for the binary's own directory (active-response/bin). */
export function binDir(installDir: string): string {
  return resolve(installDir, 'active-response/bin');
}

