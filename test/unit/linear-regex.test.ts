/** The body-match patterns run in linear time and mean what JavaScript's RegExp means. */
import { describe, expect, it } from 'vitest';
import { compileLinear, UnsupportedPattern } from '../../domain/linear-regex.js';

const CASES: Array<[string, string[]]> = [
  ['PACS .* OK', ['PACS archive-01 OK\n', 'PACS OK', 'pacs x OK', 'PACS a\nb OK']],
  ['^status: (up|degraded)$', ['status: up', 'status: down', 'status: degraded', 'xstatus: up']],
  ['"version":\\s*"1\\.1\\.\\d+"', ['{"version": "1.1.12"}', '{"version":"1.10.1"}', '"version" : "1.1.1"']],
  ['[A-Z]{2,4}-[0-9]+', ['CT-12', 'C-1', 'ABCDE-9', 'mr-1']],
  ['[^a-z ]+', ['abc', 'abc DEF', '   ']],
  ['colou?r', ['color', 'colour', 'colouur']],
  ['a{3}', ['aa', 'aaa', 'xaaax']],
  ['a{2,}b', ['ab', 'aab', 'caaaab']],
  ['(?:ab)+c', ['abc', 'ababc', 'ac', 'abab']],
  ['[\\w.-]+@[\\w-]+\\.example', ['x@y.example', 'a.b-c@d-e.example', '@y.example']],
  ['^$', ['', 'a']],
  ['x|', ['', 'abc']],
  ['\\.', ['a.b', 'ab']],
  ['[-a]', ['-', 'b']],
];

describe('linear-time body match', () => {
  it('agrees with RegExp on what matches', () => {
    for (const [pattern, inputs] of CASES) {
      const linear = compileLinear(pattern);
      for (const input of inputs)
        expect(linear.find(input), `/${pattern}/ on ${JSON.stringify(input)}`).toBe(
          new RegExp(pattern).test(input),
        );
    }
  });

  it('matches catastrophic patterns in linear time', () => {
    const evil = 'a'.repeat(65_536) + '!';
    for (const pattern of ['(a+)+$', '(a|a)*$', '(a*)*b', '(.*a){12}$']) {
      const started = Date.now();
      expect(compileLinear(pattern).find(evil)).toBe(new RegExp(pattern).test('aaaa!'));
      expect(Date.now() - started, pattern).toBeLessThan(3_000);
    }
  });

  it('refuses what needs backtracking, naming it', () => {
    for (const [pattern, why] of [
      ['(a)\\1', /backreferences/],
      ['(?=a)b', /lookaround/],
      ['(?<!a)b', /lookaround/],
      ['\\bword', /word boundaries/],
      ['a{2,500}', /out of range/],
      ['(ab', /unclosed group/],
      ['[ab', /unclosed character class/],
      ['*a', /nothing to repeat/],
      ['a)', /unexpected "\)"/],
      ['x'.repeat(501), /longer than/],
      ['(a{50}){50}', /too large/],
    ] as const) {
      expect(() => compileLinear(pattern), pattern).toThrow(UnsupportedPattern);
      expect(() => compileLinear(pattern), pattern).toThrow(why);
    }
    expect(() => compileLinear('(a)\\1')).toThrow(/backreferences are not supported at position/);
  });
});
