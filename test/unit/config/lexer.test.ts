import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/errors.ts';
import { splitArgv, tokenize } from '../../../src/config/lexer.ts';

const words = (text: string): string[] => tokenize(text, 'f').tokens.map((t) => t.text);

describe('tokenize', () => {
  it('gives every token its file and line', () => {
    expect(tokenize('a b\n\n  c {\n}', 'x.conf').tokens).toEqual([
      { text: 'a', quoted: false, file: 'x.conf', line: 1 },
      { text: 'b', quoted: false, file: 'x.conf', line: 1 },
      { text: 'c', quoted: false, file: 'x.conf', line: 3 },
      { text: '{', quoted: false, file: 'x.conf', line: 3 },
      { text: '}', quoted: false, file: 'x.conf', line: 4 },
    ]);
  });

  it('splits braces glued to words', () => {
    expect(words('notification_email {a@b}')).toEqual(['notification_email', '{', 'a@b', '}']);
    expect(words('x{y}}z')).toEqual(['x', '{', 'y', '}', '}', 'z']);
  });

  it('drops # and ! comments anywhere on a line, outside quotes', () => {
    expect(words('! Configuration File\nrouter_id r1 # trailing\na!b\n"x#y" \'p!q\'')).toEqual(['router_id', 'r1', 'a', 'x#y', 'p!q']);
  });

  it('reads // at the start of a word as a comment and records where', () => {
    const r = tokenize('state MASTER // 主\nx //y\n// whole line\nhttp://a/b', 'f');
    expect(r.tokens.map((t) => t.text)).toEqual(['state', 'MASTER', 'x', 'http://a/b']);
    expect(r.slashComments).toEqual(['f:1', 'f:2', 'f:3']);
  });

  it('handles double and single quotes with escapes, glued to text', () => {
    const r = tokenize(`script "/opt/a.sh 'x y'" '\\'' "a\\"b\\\\" pre"fix"post ""`, 'f');
    expect(r.tokens.map((t) => [t.text, t.quoted])).toEqual([
      ['script', false],
      ["/opt/a.sh 'x y'", true],
      ["'", true],
      ['a"b\\', true],
      ['prefixpost', true],
      ['', true],
    ]);
  });

  it('keeps braces inside quotes as text', () => {
    expect(tokenize('"{" }', 'f').tokens.map((t) => [t.text, t.quoted])).toEqual([
      ['{', true],
      ['}', false],
    ]);
  });

  it('accepts CRLF and tabs', () => {
    expect(words('a\tb\r\nc\r\n')).toEqual(['a', 'b', 'c']);
  });

  it('defines $NAME=value parameters and substitutes $NAME and ${NAME} in later lines', () => {
    const r = tokenize('$IF=eth0\n$VIP = 10.0.0.1/24 dev ${IF}\ninterface $IF\nvirtual_ipaddress { $VIP }\nauth_pass a$b', 'f');
    expect(r.tokens.map((t) => `${t.line}:${t.text}`)).toEqual([
      '3:interface', '3:eth0', '4:virtual_ipaddress', '4:{', '4:10.0.0.1/24', '4:dev', '4:eth0', '4:}', '5:auth_pass', '5:a$b',
    ]);
    const undefinedParam = tokenize('\nx ${NOPE}\ny', 'f');
    expect(undefinedParam.errors).toEqual([new ConfigError('f:2', 'parameter ${NOPE} is not defined ($NAME=value defines it)')]);
    expect(undefinedParam.tokens.map((t) => t.text)).toEqual(['y']);
  });

  it('reads @ID lines only on the node whose config-id is ID, @^ID lines on the others', () => {
    const text = '@node1 priority 150\n@node2 priority 100\n@^node1 nopreempt\n  @node1\tstate MASTER';
    const ids = (configId: string | null): string[] => tokenize(text, 'f', { params: new Map(), configId }).tokens.map((t) => `${t.line}:${t.text}`);
    expect(ids('node1')).toEqual(['1:priority', '1:150', '4:state', '4:MASTER']);
    expect(ids('node2')).toEqual(['2:priority', '2:100', '3:nopreempt']);
  });

  it('reports an unterminated quote with file:line, drops that line and reads on', () => {
    const r = tokenize('ok\nscript "/bin/x\nnext \'y', 'h.conf');
    expect(r.errors).toEqual([new ConfigError('h.conf:2', 'unterminated "-quoted string'), new ConfigError('h.conf:3', "unterminated '-quoted string")]);
    expect(r.tokens.map((t) => t.text)).toEqual(['ok']);
  });
});

describe('splitArgv', () => {
  it('splits a script string like keepalived', () => {
    expect(splitArgv('/bin/x  a "b c" \'d e\' f\\ g')).toEqual(['/bin/x', 'a', 'b c', 'd e', 'f g']);
    expect(splitArgv('  ')).toEqual([]);
    expect(splitArgv('""')).toEqual(['']);
  });
});
