/**
 * The log's local time, read from the zone file instead of the runtime's ICU: it must agree with the C
 * library's (here Node's Date, which follows TZ as localtime_r does) to the second, across daylight saving
 * transitions, half-hour zones, dates before a zone's first transition and far past its last. What the built
 * binary writes under a TZ that names a FIFO or a broken file is in test/binary-environment.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { localTime } from '../src/runtime/local-time.js';

const savedTz = process.env.TZ;
afterEach(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

function libcLocal(date: Date) {
  return { year: date.getFullYear(), month: date.getMonth() + 1, day: date.getDate(), hours: date.getHours(), minutes: date.getMinutes(), seconds: date.getSeconds() };
}

const instants = [
  '1890-06-01T12:00:00Z', // before most zones' first transition (local mean time)
  '1970-01-01T00:00:00Z',
  '2026-03-29T00:59:59Z', // the second before Europe's spring change
  '2026-03-29T01:00:00Z',
  '2026-10-25T00:59:59Z',
  '2026-10-25T01:00:00Z',
  '2026-03-08T06:59:59Z', // around the US spring change
  '2026-03-08T07:00:00Z',
  '2026-11-01T05:59:59Z',
  '2026-11-01T06:00:00Z',
  '2026-12-06T05:00:00Z',
  '2036-07-01T12:00:00Z',
  '2050-01-15T08:30:00Z', // past the last transition a zone file lists: the footer's rule
  '2050-07-15T08:30:00Z',
].map((text) => new Date(text));

describe('the log\'s local time', () => {
  for (const zone of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/Sao_Paulo', 'Asia/Tokyo', 'Pacific/Chatham']) {
    it(`agrees with the C library to the second in ${zone}`, () => {
      process.env.TZ = zone;
      for (const instant of instants) expect({ at: instant.toISOString(), ...localTime(instant) }).toEqual({ at: instant.toISOString(), ...libcLocal(instant) });
    });
  }

  it('follows /etc/localtime when TZ is unset, and falls back to the runtime for a POSIX rule string', () => {
    delete process.env.TZ;
    const now = new Date();
    expect(localTime(now)).toEqual(libcLocal(now));
    process.env.TZ = 'CET-1CEST,M3.5.0,M10.5.0/3';
    for (const instant of instants) expect(localTime(instant)).toEqual(libcLocal(instant));
  });

});
