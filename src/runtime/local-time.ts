/**
 * The local wall-clock time Wazuh's log lines carry, without the runtime's time-zone machinery: the first
 * local-time call in a process makes JavaScriptCore load ICU's zone data, the largest single cost of an
 * alert's run (bench/RESULTS.md). The offset comes from the compiled zone file instead, as libc's
 * localtime_r (which Wazuh's own binaries use) gets it: TZ if it names a zone file, else /etc/localtime.
 * A zone file that cannot be read or is not one means UTC, as in glibc. A case the file alone cannot answer
 * (a POSIX TZ rule string, a time past the file's last transition with daylight saving rules after it) falls
 * back to Date's own local time: slower, not wrong.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';

export interface LocalTime {
  year: number;
  /** 1 to 12. */
  month: number;
  day: number;
  hours: number;
  minutes: number;
  seconds: number;
}

interface ZoneFile {
  /** Transition instants, seconds since the epoch, ascending. */
  transitions: number[];
  /** The UTC offset in seconds in force from each transition on. */
  offsets: number[];
  /** The offset before the first transition. */
  initialOffset: number;
  /** The offset after the last transition, when the file's footer fixes one (no daylight saving rule). */
  finalOffset: number | undefined;
}

const zoneDir = '/usr/share/zoneinfo';

/** The zone file TZ names, or /etc/localtime; undefined when TZ is a POSIX rule string. */
function zoneFilePath(tz: string | undefined): string | undefined {
  if (tz === undefined || tz === '') return tz === '' ? join(zoneDir, 'UTC') : '/etc/localtime';
  const name = tz.startsWith(':') ? tz.slice(1) : tz;
  if (isAbsolute(name)) return name;
  if (!/^[A-Za-z0-9_+\-]+(\/[A-Za-z0-9_+\-]+)*$/.test(name) || normalize(name) !== name) return undefined;
  return join(zoneDir, name);
}

/** TZif versions 1 to 4 (RFC 8536); the 64-bit block when there is one. */
export function parseZoneFile(data: Buffer): ZoneFile | undefined {
  if (data.length < 44 || data.toString('latin1', 0, 4) !== 'TZif') return undefined;
  const counts = (at: number) => ({
    isut: data.readUInt32BE(at + 20),
    isstd: data.readUInt32BE(at + 24),
    leap: data.readUInt32BE(at + 28),
    time: data.readUInt32BE(at + 32),
    type: data.readUInt32BE(at + 36),
    chars: data.readUInt32BE(at + 40),
  });
  const v1 = counts(0);
  const v1Size = v1.time * 5 + v1.type * 6 + v1.chars + v1.leap * 8 + v1.isstd + v1.isut;
  const version = data[4]!;
  const wide = version >= 0x32;
  const header = wide ? 44 + v1Size : 0;
  if (data.length < header + 44) return undefined;
  const c = wide ? counts(header) : v1;
  const timeSize = wide ? 8 : 4;
  let at = header + 44;
  const end = at + c.time * (timeSize + 1) + c.type * 6 + c.chars + c.leap * (timeSize + 4) + c.isstd + c.isut;
  if (c.type === 0 || data.length < end) return undefined;
  const transitions: number[] = [];
  for (let i = 0; i < c.time; i++, at += timeSize) transitions.push(wide ? Number(data.readBigInt64BE(at)) : data.readInt32BE(at));
  const indices = [...data.subarray(at, at + c.time)];
  at += c.time;
  const typeOffsets: number[] = [];
  for (let i = 0; i < c.type; i++) typeOffsets.push(data.readInt32BE(at + i * 6));
  if (indices.some((index) => index >= c.type)) return undefined;
  return {
    transitions,
    offsets: indices.map((index) => typeOffsets[index]!),
    initialOffset: typeOffsets[0]!,
    finalOffset: wide ? fixedOffsetOf(data.toString('latin1', end).split('\n')[1]) : undefined,
  };
}

/** The offset a POSIX TZ footer fixes ("UTC0", "<+0530>-5:30"), or undefined when it has a DST rule. */
function fixedOffsetOf(footer: string | undefined): number | undefined {
  const match = footer === undefined ? null : /^(?:[A-Za-z]{3,}|<[A-Za-z0-9+\-]+>)([+-]?)(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?$/.exec(footer);
  if (!match) return undefined;
  const seconds = Number(match[2]) * 3600 + Number(match[3] ?? 0) * 60 + Number(match[4] ?? 0);
  // POSIX counts west of Greenwich as positive: "EST5" is UTC-5.
  return match[1] === '-' ? seconds : -seconds;
}

/** The UTC offset in force at `epochSeconds`, or undefined when the file cannot say. */
export function offsetAt(zone: ZoneFile, epochSeconds: number): number | undefined {
  const { transitions, offsets } = zone;
  if (transitions.length === 0 || epochSeconds < transitions[0]!) return transitions.length === 0 ? zone.finalOffset ?? zone.initialOffset : zone.initialOffset;
  let low = 0;
  let high = transitions.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (transitions[middle]! <= epochSeconds) low = middle;
    else high = middle - 1;
  }
  if (low === transitions.length - 1 && zone.finalOffset !== undefined) return zone.finalOffset;
  // Past the last transition of a zone whose footer has DST rules: the file alone cannot say.
  return low === transitions.length - 1 ? undefined : offsets[low];
}

/** Zone files are a few KiB; a FIFO or a huge file named by TZ must not hang or bloat an alert's run. */
function readZoneFile(path: string): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size > 1 << 20) throw new Error('not a zone file');
    const data = Buffer.alloc(stat.size);
    let read = 0;
    while (read < data.length) {
      const count = readSync(fd, data, read, data.length - read, read);
      if (count === 0) break;
      read += count;
    }
    return data.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

const utc: ZoneFile = { transitions: [], offsets: [], initialOffset: 0, finalOffset: 0 };

let cachedZone: { path: string | undefined; zone: ZoneFile | undefined } | undefined;

/** The zone in force, read once per TZ value (a process writes several lines). */
function currentZone(): ZoneFile | undefined {
  const path = zoneFilePath(process.env.TZ);
  if (cachedZone && cachedZone.path === path) return cachedZone.zone;
  let zone: ZoneFile | undefined;
  try {
    zone = path === undefined ? undefined : (parseZoneFile(readZoneFile(path)) ?? utc);
  } catch {
    zone = utc;
  }
  cachedZone = { path, zone };
  return zone;
}

export function localTime(date: Date = new Date()): LocalTime {
  const zone = currentZone();
  const offset = zone ? offsetAt(zone, Math.floor(date.getTime() / 1000)) : undefined;
  if (offset === undefined) {
    return { year: date.getFullYear(), month: date.getMonth() + 1, day: date.getDate(), hours: date.getHours(), minutes: date.getMinutes(), seconds: date.getSeconds() };
  }
  const shifted = new Date(date.getTime() + offset * 1000);
  return {
    year: shifted.getUTCFullYear(),
    month: shifted.getUTCMonth() + 1,
    day: shifted.getUTCDate(),
    hours: shifted.getUTCHours(),
    minutes: shifted.getUTCMinutes(),
    seconds: shifted.getUTCSeconds(),
  };
}
