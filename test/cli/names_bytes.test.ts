/*
 * Names that are not UTF-8 ('caf\xe9' in Latin-1 beside 'caf\xe8'), as
 * bytes end to end: the command line finds each by its own bytes (argv is
 * read again from /proc), mv moves the one named, ls and errors print the
 * bytes as ls -b does, get writes them to the host as they are, and the
 * library's names keep them (a lone U+DC80-U+DCFF per byte); mkfs --from
 * and put -r read them from the host as bytes. A name given with U+FFFD
 * finds only an entry named with that character, never another by a guess
 * (a guess let mv link one name and then fail to remove the other).
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Vm, VmError } from '../../src/api/index.js';
import { debugfs, debugfsCat, e2fsck, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const src = join(tmp.dir, 'src');
const img = join(tmp.dir, 'names.img');

/** vmpager with its arguments as shell words (printf's octal escapes give bytes that are not UTF-8). */
function sh(words: string): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync('sh', ['-c', `"${process.execPath}" "${CLI}" ${words}`], { maxBuffer: 1 << 24 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString('latin1') };
}

before(() => {
  mkdirSync(src);
  writeFileSync(Buffer.concat([latin1(src + '/caf\xe9')]), 'one\n');
  writeFileSync(Buffer.concat([latin1(src + '/caf\xe8')]), 'two\n');
  mkdirSync(latin1(src + '/d\xff'));
  writeFileSync(latin1(src + '/d\xff/in'), 'three\n');
  const r = spawnSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', src, img, '16M']);
  assert.equal(r.status, 0, r.stderr.toString());
});

test('cat, mv and ls name entries that are not UTF-8 by their own bytes', () => {
  assert.equal(sh(`cat ${img} "$(printf '/caf\\351')"`).stdout.toString(), 'one\n');
  assert.equal(sh(`cat ${img} "$(printf '/caf\\350')"`).stdout.toString(), 'two\n');
  assert.equal(sh(`cat ${img} "$(printf '/d\\377/in')"`).stdout.toString(), 'three\n');
  // The bytes of U+FFFD name nothing here: ENOENT, and nothing changed (a guess had linked one file and failed to unlink it).
  const guess = sh(`mv ${img} "$(printf '/caf\\357\\277\\275')" /guessed`);
  assert.equal(guess.status, 2);
  assert.match(guess.stderr, /no such file or directory\n$/);
  assert.doesNotMatch(debugfs(img, 'ls -l /'), /guessed/);
  const ls = sh(`ls ${img} /`);
  assert.equal(ls.status, 0, ls.stderr);
  assert.match(ls.stdout.toString(), /caf\\350\n[^]*caf\\351\n/, 'printed as ls -b prints them');
  const mv = sh(`mv ${img} "$(printf '/caf\\351')" /renamed`);
  assert.equal(mv.status, 0, mv.stderr);
  assert.equal(debugfsCat(img, '/renamed').toString(), 'one\n', 'the file named moved, not its neighbour');
  assert.match(debugfs(img, 'ls -l /'), /caf\\xe8/);
  assert.doesNotMatch(debugfs(img, 'ls -l /'), /caf\\xe9/);
  assert.ok(e2fsck(img).clean);
  const missing = sh(`cat ${img} "$(printf '/caf\\351\\nx')"`);
  assert.equal(missing.status, 2);
  assert.equal(missing.stderr, `vmpager: ${img}: /caf\\351\\nx: no such file or directory\n`, 'one line, the bytes escaped');
  sh(`mv ${img} /renamed "$(printf '/caf\\351')"`);
});

test('get writes names that are not UTF-8 to the host as their bytes', () => {
  const out = join(tmp.dir, 'out');
  const r = sh(`get ${img} / ${out}`);
  assert.equal(r.status, 0, r.stderr);
  const names = readdirSync(out, { encoding: 'buffer' }).map((b) => b.toString('latin1')).sort();
  assert.deepEqual(names, ['caf\xe8', 'caf\xe9', 'd\xff', 'lost+found']);
  assert.equal(readFileSync(latin1(join(out, 'caf\xe9'))).toString(), 'one\n');
  assert.equal(readFileSync(latin1(join(out, 'd\xff/in'))).toString(), 'three\n');
});

test('the library keeps such a name\'s bytes in its string, and a name with U+FFFD finds only an entry named with it', async () => {
  const fs = await new Vm().mount(img, { readOnly: false });
  try {
    const names = (await fs.readdir('/')).map((e) => e.name).sort();
    assert.deepEqual(names, ['caf\udce8', 'caf\udce9', 'd\udcff', 'lost+found']);
    const p = fs.promises;
    assert.equal(await p.readFile('/caf\udce9', 'utf8'), 'one\n');
    await p.writeFile('/new\udcfe', 'four\n');
    // U+FFFD is a character of its own (the bytes EF BF BD), never a guess at another name.
    await assert.rejects(p.readFile('/caf\ufffd'), (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT');
    await assert.rejects(fs.stat('/d\ufffd/in'), (e: unknown) => e instanceof VmError && e.code === 'ENOENT');
    await assert.rejects(fs.rename('/d\ufffd', '/moved'), (e: unknown) => e instanceof VmError && e.code === 'ENOENT');
  } finally {
    await fs.unmount();
  }
  const line = debugfs(img, 'ls -l /').split('\n').find((l) => l.endsWith(' new\\xfe'));
  assert.ok(line !== undefined, 'the entry is the bytes new\\xfe');
  assert.equal(debugfsCat(img, `<${line.trim().split(/\s+/)[0]}>`).toString(), 'four\n');
  assert.ok(e2fsck(img).clean);
});

test('mkfs --from and put -r take host names that are not UTF-8 as their bytes, symlink targets too', () => {
  const tree = join(tmp.dir, 'tree-in');
  mkdirSync(latin1(tree + '/sub\xe9/deep\xfe'), { recursive: true });
  writeFileSync(latin1(tree + '/top\xe8'), 'top\n');
  writeFileSync(latin1(tree + '/sub\xe9/deep\xfe/f\xe7'), 'deep\n');
  symlinkSync(latin1('sub\xe9/deep\xfe/f\xe7'), latin1(tree + '/link\xe0'));
  const made = join(tmp.dir, 'made.img');
  const m = sh(`mkfs --type ext4 --from ${tree} ${made} 16MiB`);
  assert.equal(m.status, 0, m.stderr);
  const merged = join(tmp.dir, 'merged.img');
  spawnSync('mke2fs', ['-q', '-F', '-t', 'ext4', merged, '16M']);
  const p = sh(`put -r ${merged} /in --from ${tree}`);
  assert.equal(p.status, 0, p.stderr);
  for (const [img2, at] of [[made, ''], [merged, '/in']] as const) {
    assert.ok(e2fsck(img2).clean);
    assert.match(debugfs(img2, `ls -l ${at || '/'}`), /top\\xe8/);
    assert.equal(sh(`cat ${img2} "$(printf '${at}/sub\\351/deep\\376/f\\347')"`).stdout.toString(), 'deep\n');
    assert.equal(sh(`cat ${img2} "$(printf '${at}/link\\340')"`).stdout.toString(), 'deep\n', 'the symlink\'s target bytes kept');
    // And out again, byte for byte.
    const out = join(tmp.dir, `back-${at ? 'merged' : 'made'}`);
    assert.equal(sh(`get ${img2} ${at || '/'} ${out}`).status, 0);
    assert.equal(readFileSync(latin1(out + '/sub\xe9/deep\xfe/f\xe7'), 'utf8'), 'deep\n');
  }
});

const noAttrTools = spawnSync('setfattr', ['--version']).error !== undefined ? 'setfattr is not installed (the attr package)' : false;

test('extended attributes of files whose names are not UTF-8 go in and out with their own files', { skip: noAttrTools }, () => {
  const tree = join(tmp.dir, 'attrs-in');
  mkdirSync(tree);
  for (const [octal, v] of [['351', 'one'], ['350', 'two']]) {
    writeFileSync(latin1(join(tree, 'x' + String.fromCharCode(parseInt(octal, 8)))), v);
    const r = spawnSync('sh', ['-c', `setfattr -n user.which -v ${v} "$(printf '${tree}/x\\${octal}')"`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
  const img2 = join(tmp.dir, 'attrs.img');
  const m = sh(`mkfs --type ext4 --from ${tree} ${img2} 16MiB`);
  assert.equal(m.status, 0, m.stderr);
  for (const [octal, v] of [['351', 'one'], ['350', 'two']]) {
    const x = sh(`xattr ${img2} "$(printf '/x\\${octal}')"`);
    assert.equal(x.status, 0, x.stderr);
    assert.match(x.stdout.toString(), new RegExp(`user\\.which="${v}"`), `/x\\${octal}`);
  }
  const out = join(tmp.dir, 'attrs-out');
  assert.equal(sh(`get ${img2} / ${out}`).status, 0);
  for (const [octal, v] of [['351', 'one'], ['350', 'two']]) {
    const g = spawnSync('sh', ['-c', `getfattr --only-values -n user.which "$(printf '${out}/x\\${octal}')"`], { encoding: 'utf8' });
    assert.equal(g.stdout, v, `host x\\${octal}`);
  }
});

test('FAT has no place for a name that is not UTF-8: refused in one line (two such names were merged into one, a file lost)', () => {
  const tree = join(tmp.dir, 'fat-in');
  mkdirSync(tree);
  writeFileSync(latin1(tree + '/x\xe8'), 'A\n');
  writeFileSync(latin1(tree + '/x\xe9'), 'B\n');
  const fat = join(tmp.dir, 'names.fat');
  const r = sh(`mkfs --type fat --from ${tree} ${fat} 8MiB`);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, `vmpager: ${fat}: /x\\350: invalid argument\n`);
  // A character past U+FFFF (a surrogate pair in UTF-16) is a name like any other.
  const ok = sh(`put ${fat} "$(printf '/smile\\360\\237\\230\\200.txt')" --from /dev/null`);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(spawnSync('fsck.fat', ['-n', fat]).status, 0);
});

test('extended attribute names and values that are not UTF-8 keep their bytes (two names were one, a value lost)', { skip: noAttrTools }, () => {
  const tree = join(tmp.dir, 'attr-names');
  mkdirSync(tree);
  writeFileSync(join(tree, 'f'), 'hi\n');
  for (const [octal, v] of [['351', 'one'], ['350', 'two']]) {
    const r = spawnSync('sh', ['-c', `setfattr -n "$(printf 'user.b\\${octal}')" -v ${v} ${join(tree, 'f')}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
  const img2 = join(tmp.dir, 'attr-names.img');
  assert.equal(sh(`mkfs --type ext4 --from ${tree} ${img2} 16MiB`).status, 0);
  assert.equal(sh(`xattr ${img2} /f`).stdout.toString(), 'user.b\\350="two"\nuser.b\\351="one"\n');
  assert.equal(sh(`xattr ${img2} /f "$(printf 'user.n\\351')" "$(printf 'v\\351')"`).status, 0);
  assert.match(debugfs(img2, 'ea_list /f'), /75 73 65 72 2e 6e e9 +\(2\) = 76 e9/);
  assert.ok(e2fsck(img2).clean);
});

test('the facade takes Buffer paths as their bytes and gives names back in the encoding asked for', async () => {
  const fs = await new Vm().mount(img, { readOnly: false });
  try {
    const p = fs.promises;
    assert.equal(await p.readFile(latin1('/caf\xe9'), 'utf8'), 'one\n');
    await p.writeFile(latin1('/b\xe9'), 'x');
    await p.symlink(latin1('caf\xe9'), latin1('/l\xe9'));
    const raw = (await p.readdir('/', { encoding: 'buffer' })).map((b) => b.toString('hex')).sort();
    assert.ok(raw.includes(latin1('caf\xe8').toString('hex')) && raw.includes(latin1('caf\xe9').toString('hex')), 'told apart by their bytes');
    assert.ok((await p.readdir('/', 'latin1')).includes('b\xe9'), 'latin1: each byte one character, as Node gives it');
    assert.ok((await p.readlink('/l\udce9', { encoding: 'buffer' })).equals(latin1('caf\xe9')));
    assert.ok((await p.realpath(latin1('/l\xe9'), 'buffer')).equals(latin1('/caf\xe9')));
  } finally {
    await fs.unmount();
  }
  assert.match(debugfs(img, 'ls -l /'), / b\\xe9\n/);
  assert.ok(e2fsck(img).clean);
});

test('host paths given on the command line with bytes that are not UTF-8: get\'s DEST, put\'s --from, put -r\'s --from', () => {
  const dest = join(tmp.dir, 'dest\xe9');
  const g = sh(`get ${img} "$(printf '/d\\377')" "$(printf '${join(tmp.dir, 'dest')}\\351')"`);
  assert.equal(g.status, 0, g.stderr);
  assert.equal(readFileSync(latin1(join(dest, 'in'))).toString(), 'three\n');
  assert.deepEqual(readdirSync(tmp.dir, { encoding: 'buffer' }).filter((b) => b.toString('latin1').startsWith('dest')).map((b) => b.toString('latin1')), ['dest\xe9'], 'no second folder named with U+FFFD');
  writeFileSync(latin1(join(tmp.dir, 'from\xe9.txt')), 'put me\n');
  const p = sh(`put ${img} /put-from --from "$(printf '${join(tmp.dir, 'from')}\\351.txt')"`);
  assert.equal(p.status, 0, p.stderr);
  assert.equal(debugfsCat(img, '/put-from').toString(), 'put me\n');
  const r = sh(`put -r ${img} /tree-from --from "$(printf '${join(tmp.dir, 'dest')}\\351')"`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(debugfsCat(img, '/tree-from/in').toString(), 'three\n');
});
