/**
 * Unit specs of lib/transfers.ts' local side: a directory's entries when some names are not UTF-8 (bytes a Linux file
 * system keeps as they are, which Node decodes to U+FFFD), a DEST made for a download of nothing and removed again,
 * and sizes as the command line shows them, at every unit's edge.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bytes, directoryEntries, filesUnder, treeRoot, unmakeTree } from '../lib/transfers.js';

const work = mkdtempSync(join(tmpdir(), 's3v4-transfers-'));

test('a name that is not UTF-8 is skipped with a warning; one that holds U+FFFD itself is kept', async () => {
  const dir = join(work, 'names');
  mkdirSync(dir);
  const root = Buffer.from(`${dir}/`);
  // "résumé.txt" in Latin-1, and a lone continuation byte: neither decodes.
  for (const raw of [Buffer.from('r\xe9sum\xe9.txt', 'latin1'), Buffer.from([0x62, 0x80, 0x61])])
    writeFileSync(Buffer.concat([root, raw]), 'x');
  for (const name of ['plain.txt', 'real\uFFFDname', 'ünï']) writeFileSync(join(dir, name), 'y');
  const warnings: string[] = [];
  const entries = await directoryEntries(dir, (message) => warnings.push(message));
  assert.equal(
    entries.map((entry) => entry.name),
    ['plain.txt', 'real\uFFFDname', 'ünï'],
  );
  assert.is(warnings.length, 2);
  for (const warning of warnings)
    assert.match(warning, /: its name is not UTF-8, which no key can hold \(rename it\)$/);
  // A walk never meets the names it cannot open.
  const seen: string[] = [];
  for await (const file of filesUnder(dir, { warn: () => undefined })) seen.push(String(file));
  assert.equal(
    seen,
    ['plain.txt', 'real\uFFFDname', 'ünï'].map((name) => join(dir, name)),
  );
});

test('a directory below the top that cannot be read is a failure of its own, and the walk goes on', async () => {
  const dir = join(work, 'walk');
  mkdirSync(join(dir, 'a'), { recursive: true });
  mkdirSync(join(dir, 'z'));
  writeFileSync(join(dir, 'a', 'one'), '1');
  writeFileSync(join(dir, 'b'), '2');
  writeFileSync(join(dir, 'z', 'two'), '3');
  const seen: unknown[] = [];
  for await (const item of filesUnder(dir, { warn: () => undefined })) {
    seen.push(item);
    // Gone before the walk reaches it: as a directory deleted while a put runs.
    if (seen.length === 1) rmSync(join(dir, 'z'), { recursive: true });
  }
  const z = join(dir, 'z');
  assert.equal(seen, [
    join(dir, 'a', 'one'),
    join(dir, 'b'),
    { file: z, message: `cannot read the directory ${z} (ENOENT); skipped` },
  ]);
  // The top itself is the command's argument: its failure is the command's.
  let thrown: unknown;
  try {
    for await (const item of filesUnder(join(work, 'never'), { warn: () => undefined })) seen.push(item);
  } catch (error) {
    thrown = error;
  }
  assert.is((thrown as NodeJS.ErrnoException).code, 'ENOENT');
});

test('a DEST made for nothing is removed up to the first directory made, never above, and only while empty', () => {
  const cwd = process.cwd();
  const empty = join(work, 'empty-cwd');
  mkdirSync(empty);
  try {
    // Relative, from a directory that is itself empty: it must stay.
    process.chdir(empty);
    unmakeTree(treeRoot(join('a', 'b')));
    assert.equal(readdirSync(empty), []);
    assert.ok(existsSync(empty));
    // One that existed stays, and so does one something was written into.
    mkdirSync('kept');
    unmakeTree(treeRoot('kept'));
    assert.ok(existsSync('kept'));
    const used = treeRoot(join('used', 'inner'));
    writeFileSync(join('used', 'inner', 'file'), 'x');
    unmakeTree(used);
    assert.ok(existsSync(join('used', 'inner', 'file')));
  } finally {
    process.chdir(cwd);
  }
});

test('sizes change unit once they would show 1024.0', () => {
  const cases: Array<[number, string]> = [
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1024 * 1024 - 52, '1023.9 KiB'],
    [1024 * 1024 - 1, '1.0 MiB'],
    [1024 ** 3 - 1, '1.0 GiB'],
    [5 * 1024 ** 4, '5.0 TiB'],
    [4096 * 1024 ** 4, '4096.0 TiB'],
  ];
  for (const [count, shown] of cases) assert.is(bytes(count), shown, String(count));
});

test.after(() => rmSync(work, { recursive: true, force: true }));

test.run();
