import { describe, expect, it } from 'vitest';
import { compileLogFormat } from '../../src/parse/log-format.ts';

describe('compileLogFormat (logparser --log-format syntax)', () => {
  it('extracts named fields; a run of spaces matches any whitespace run', () => {
    const f = compileLogFormat('<Date> <Time> <Level> <Component>: <Content>');
    expect(f.fields).toEqual(['Date', 'Time', 'Level', 'Component', 'Content']);
    expect(f.parse('17/06/09 20:10:40   INFO executor.Backend: Registered signal handlers for [TERM]')).toEqual({
      Date: '17/06/09',
      Time: '20:10:40',
      Level: 'INFO',
      Component: 'executor.Backend',
      Content: 'Registered signal handlers for [TERM]',
    });
  });

  it('treats text between fields as a regex fragment, including optional groups', () => {
    const linux = compileLogFormat('<Month> <Date> <Time> <Level> <Component>(\\[<PID>\\])?: <Content>');
    expect(linux.parse('Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown')).toMatchObject({
      Component: 'sshd(pam_unix)',
      PID: '19939',
      Content: 'check pass; user unknown',
    });
    const noPid = linux.parse('Jun 15 04:06:18 combo su(pam_unix): session opened for user cyrus by (uid=0)');
    expect(noPid?.Component).toBe('su(pam_unix)');
    expect(noPid?.PID).toBeUndefined();
    expect(linux.content('Jun 15 04:06:18 combo kernel: Linux version 2.6.5')).toBe('Linux version 2.6.5');
  });

  it('handles bracketed headers (Zookeeper, Apache)', () => {
    const zk = compileLogFormat('<Date> <Time> - <Level>  \\[<Node>:<Component>@<Id>\\] - <Content>');
    expect(
      zk.parse('2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200'),
    ).toMatchObject({ Level: 'INFO', Id: '774', Content: 'Notification time out: 3200' });
    const apache = compileLogFormat('\\[<Time>\\] \\[<Level>\\] <Content>');
    expect(apache.content('[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties')).toBe(
      'workerEnv.init() ok /etc/httpd/conf/workers2.properties',
    );
  });

  it('requires the whole line to match', () => {
    const f = compileLogFormat('\\[<Time>\\] \\[<Level>\\] <Content>');
    expect(f.parse('no brackets here')).toBeNull();
    expect(f.content('no brackets here')).toBeNull();
    const g = compileLogFormat('<Level>: <Content> END');
    expect(g.parse('INFO: hello END trailing')).toBeNull();
  });

  it('uses the last field when there is no <Content>', () => {
    const f = compileLogFormat('<Level> <Message>');
    expect(f.content('WARN disk almost full')).toBe('disk almost full');
  });

  it('rejects formats without fields, with duplicate or non-identifier names', () => {
    expect(() => compileLogFormat('just text')).toThrow(/no <Field>/);
    expect(() => compileLogFormat('<A> <A>')).toThrow(/twice/);
    expect(() => compileLogFormat('<a b> <Content>')).toThrow(/identifier/);
  });
});
