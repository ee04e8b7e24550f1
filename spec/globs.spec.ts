/**
 * Unit specs of lib/globs.ts, sync's --include and --exclude: gitignore's rules on paths below the sync's root, each
 * pattern checked against paths it must and must not match, and the patterns it refuses.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UsageError } from '../lib/errors.js';
import { globPattern, pathFilter } from '../lib/globs.js';

const cases: Array<[string, string[], string[]]> = [
  // No slash: a name at any depth, and what a directory of that name holds.
  ['*.log', ['a.log', 'x/y/a.log', 'logs.log/inside'], ['a.logx', 'alog', 'a.log.txt']],
  [
    'node_modules',
    ['node_modules', 'node_modules/m.js', 'a/node_modules/b/c'],
    ['node_modules2/m.js', 'my_node_modules'],
  ],
  ['?.txt', ['a.txt', 'd/b.txt'], ['ab.txt', '.txt', 'a/.txt']],
  ['[ab].md', ['a.md', 'x/b.md'], ['c.md', 'ab.md']],
  ['[!ab].md', ['c.md'], ['a.md', '/.md']],
  // A slash anchors at the root; a leading one only anchors.
  ['docs/*.md', ['docs/a.md', 'docs/a.md/x'], ['x/docs/a.md', 'docs/sub/a.md']],
  ['/build', ['build', 'build/out.js'], ['src/build', 'builder']],
  // ** crosses parts.
  ['logs/**', ['logs/a', 'logs/a/b/c'], ['logs', 'x/logs/a']],
  ['**/tmp', ['tmp', 'a/tmp', 'a/b/tmp/file'], ['atmp', 'tmpfile']],
  ['a/**/z', ['a/z', 'a/b/z', 'a/b/c/z'], ['az', 'b/a/z']],
  // A trailing slash: what the directory holds.
  ['cache/', ['cache/x', 'a/cache/x/y'], ['cache', 'cachex/y']],
  // Characters a RegExp would read as syntax are themselves.
  ['a+b (1).$', ['a+b (1).$'], ['aab (1).$', 'a+b 1.$']],
  ['日本/*', ['日本/x'], ['日本', 'x/日本/y']],
  // A backslash makes the next character itself.
  ['q\\?.txt', ['q?.txt', 'd/q?.txt'], ['qx.txt']],
  ['star\\*', ['star*'], ['starry']],
  ['br\\[a\\].txt', ['br[a].txt'], ['bra.txt']],
  ['\\#c', ['#c'], ['c']],
];

test('each pattern matches the paths gitignore says it does, and no others', () => {
  for (const [pattern, yes, no] of cases) {
    const expression = globPattern(pattern, '--exclude');
    for (const path of yes) assert.ok(expression.test(path), `${pattern} should match ${path}`);
    for (const path of no) assert.not.ok(expression.test(path), `${pattern} should not match ${path}`);
  }
});

test('pathFilter: in when some --include matches (or none is given) and no --exclude does', () => {
  const all = pathFilter([], []);
  assert.ok(all('anything/at/all'));
  const filter = pathFilter(['docs/**', '*.md'], ['drafts/', '*.tmp.md']);
  assert.ok(filter('docs/a.txt'));
  assert.ok(filter('x/readme.md'));
  assert.not.ok(filter('src/a.ts'));
  assert.not.ok(filter('docs/drafts/a.txt'));
  assert.not.ok(filter('x/notes.tmp.md'));
  const excluding = pathFilter([], ['*.log']);
  assert.ok(excluding('a.txt'));
  assert.not.ok(excluding('a/b.log'));
});

test('a pattern that is empty, only a slash, or an unclosed or backward set is refused, naming its flag', () => {
  for (const [pattern, message] of [
    ['', /--include takes a glob pattern, got ""/],
    ['/', /--include takes a glob pattern, got "\/"/],
    ['[abc', /--include "\[abc": the "\[" at 1 is never closed/],
    ['[z-a]', /--include "\[z-a\]" is not a glob pattern/],
  ] as const) {
    assert.throws(
      () => pathFilter([pattern], []),
      (error: unknown) => error instanceof UsageError && message.test(error.message),
      pattern,
    );
  }
  assert.throws(
    () => pathFilter([], ['[x']),
    (error: unknown) => /^--exclude /.test((error as Error).message),
  );
});

test.run();
