import { describe, expect, it } from 'vitest';
import { capLine, checkPriority, fieldText, levelOf, messageOf, serviceOf, timestampOf } from '../../src/sources/journald/entry.ts';
import { classifyExit, DENIED, journalctlArgs, NOT_FOUND } from '../../src/sources/journald/source.ts';

describe('journald: entry mapping', () => {
  it('reads MESSAGE as a string, a byte array (invalid UTF-8 → U+FFFD) and a repeated field', () => {
    expect(messageOf({ MESSAGE: 'hello' })).toBe('hello');
    expect(messageOf({ MESSAGE: [0x68, 0xc3, 0xa9, 0xff] })).toBe('hé\uFFFD');
    expect(messageOf({ MESSAGE: [] })).toBe('');
    expect(messageOf({ MESSAGE: ['first', 'second'] })).toBe('first');
    expect(messageOf({ MESSAGE: [[0x61, 0x0a], 'b'] })).toBe('a');
    expect(messageOf({ MESSAGE: 'ends with newline\n' })).toBe('ends with newline');
    expect(messageOf({ MESSAGE: 'crlf\r\n' })).toBe('crlf');
    expect(messageOf({ MESSAGE: null })).toBeUndefined();
    expect(messageOf({})).toBeUndefined();
    expect(fieldText([0x36])).toBe('6');
  });

  it.each([
    ['0', 'fatal'], ['1', 'fatal'], ['2', 'fatal'], ['3', 'error'], ['4', 'warn'],
    ['5', 'info'], ['6', 'info'], ['7', 'debug'], [undefined, 'unknown'], ['9', 'unknown'],
  ] as const)('PRIORITY %s → %s', (p, level) => {
    expect(levelOf(p)).toBe(level);
  });

  it.each([
    ['nginx.service', undefined, 'nginx'],
    ['getty@tty1.service', 'agetty', 'getty'],
    ['user@1000.service', 'systemd', 'user'],
    ['docker.socket', undefined, 'docker.socket'],
    ['session-42.scope', 'sshd', 'sshd'],
    ['docker-0123abcd.scope', undefined, undefined],
    ['user-1000.slice', 'pipewire', 'pipewire'],
    [undefined, 'kernel', 'kernel'],
    [undefined, undefined, undefined],
  ] as const)('service of unit %s, identifier %s: %s', (unit, id, service) => {
    expect(serviceOf(unit, id)).toBe(service);
  });

  it('falls back to _COMM', () => {
    expect(serviceOf(undefined, undefined, 'cron')).toBe('cron');
  });

  it('dates by __REALTIME_TIMESTAMP with microseconds and ns padding', () => {
    expect(timestampOf('1764748800123456')).toEqual({ ts: '2025-12-03T08:00:00.123456000Z', ms: 1764748800123 });
    expect(timestampOf('1764748800000007')).toEqual({ ts: '2025-12-03T08:00:00.000007000Z', ms: 1764748800000 });
    expect(timestampOf(undefined)).toBeNull();
    expect(timestampOf('x1')).toBeNull();
  });

  it('caps a line at maxLineSize UTF-8 bytes, on a character boundary', () => {
    expect(capLine('short', 1024)).toEqual({ line: 'short', truncated: false });
    const long = 'é'.repeat(1000); // 2000 bytes
    const c = capLine(long, 1025);
    expect(c.truncated).toBe(true);
    expect(c.line).toBe('é'.repeat(512));
    expect(capLine('a'.repeat(1024), 1024).truncated).toBe(false);
  });

  it('checks priorities as journalctl takes them', () => {
    for (const ok of ['warning', 'err..emerg', '0..4', '3', 'debug']) expect(checkPriority(ok)).toBeNull();
    for (const bad of ['warn', '8', 'err..', 'a..b..c', '']) expect(checkPriority(bad)).toMatch(/must be one of/);
  });
});

describe('journald: journalctl arguments and exits', () => {
  const base = { merge: false, units: [], identifiers: [], readFrom: 'end' as const };
  it('builds the command line', () => {
    expect(journalctlArgs(base, null)).toEqual(['--output=json', '--all', '--follow', '--no-pager', '--lines=0']);
    expect(journalctlArgs({ ...base, readFrom: 'start' }, null)).toContain('--no-tail');
    expect(journalctlArgs({ ...base, directory: '/host/journal', units: ['a.service', 'b*'], identifiers: ['x'], priority: 'warning' }, 's=1;i=2')).toEqual([
      '--output=json', '--all', '--follow', '--no-pager',
      '--directory=/host/journal', '--unit=a.service', '--unit=b*', '--identifier=x', '--priority=warning',
      '--after-cursor=s=1;i=2', '--no-tail',
    ]);
    expect(journalctlArgs({ ...base, merge: true }, null, 1700000000)).toEqual(['--output=json', '--all', '--follow', '--no-pager', '--merge', '--since=@1700000000', '--no-tail']);
  });

  it('names why journalctl ended', () => {
    expect(classifyExit('No journal files were opened due to insufficient permissions.\n', 1, null, { directory: '/j' })).toEqual({
      reason: 'denied',
      message: DENIED('/j', 'No journal files were opened due to insufficient permissions.'),
    });
    expect(classifyExit('Failed to open /j: Permission denied\n', 1, null, {}).message).toBe(DENIED('the system journal', 'Failed to open /j: Permission denied'));
    expect(classifyExit('Failed to open /j: No such file or directory\n', 1, null, { directory: '/j' }).reason).toBe('no_journal');
    expect(classifyExit('Data from the specified boot (+0) is not available: No such boot ID in journal\n', 1, null, { directory: '/j' }).message).toMatch(/^no journal entries to follow yet in \/j/);
    expect(classifyExit('', null, 'SIGKILL', {})).toEqual({ reason: 'exit', message: 'journalctl exited (signal SIGKILL) (retrying)' });
    expect(classifyExit('x\nboom\n', 2, null, {}).message).toBe('journalctl exited (code 2): "boom" (retrying)');
    expect(NOT_FOUND('journalctl')).toMatch(/^journalctl not found \(journalctl\): install systemd \(journalctl\)/);
  });
});
