/*
 * File modes as chmod(1) takes them: octal (`755`, `4755`, `04755`) or symbolic
 * clauses (`u+x`, `go-w`, `a=rX,u+s`, and a class's bits copied: `o=u`,
 * `g+o`), applied to a file's current mode.
 *   const mode = parseMode('u+x,go-w', 0o644, false)   // 0o744, or null when it is not a mode
 */

const WHO: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };
/** Where a copied class's three permission bits are (`o=u` copies the user's). */
const COPY: Record<string, number> = { u: 6, g: 3, o: 0 };

/**
 * The new permission bits (07777) for `spec` applied to `current`, or null
 * when spec is not a mode. An octal mode of fewer than five digits leaves
 * a directory's set-user-ID and set-group-ID bits as they are unless it
 * sets them (as GNU chmod does: `00755` or `g-s` clears them).
 */
export function parseMode(spec: string, current: number, isDir: boolean): number | null {
  if (/^[0-7]+$/.test(spec)) {
    const mode = parseInt(spec, 8);
    if (mode > 0o7777) return null;
    return isDir && spec.length < 5 ? mode | (current & 0o6000) : mode;
  }
  let mode = current & 0o7777;
  for (const clause of spec.split(',')) {
    const m = /^([ugoa]*)([-+=]([ugo]|[rwxXst]*))+$/.exec(clause);
    if (m === null) return null;
    let who = 0;
    for (const c of m[1]) who |= WHO[c];
    if (who === 0) who = 0o7777; // no who: as `a` (no umask: the image is not this process's)
    for (const op of clause.slice(m[1].length).match(/[-+=](?:[ugo]|[rwxXst]*)/g) ?? []) {
      let bits = 0;
      const copy = COPY[op.slice(1)];
      // o=u, g+o ...: the permissions that class has now, for each class named.
      if (copy !== undefined) bits = ((mode >> copy) & 7) * 0o111;
      else for (const p of op.slice(1)) {
        if (p === 'r') bits |= 0o444;
        else if (p === 'w') bits |= 0o222;
        else if (p === 'x') bits |= 0o111;
        else if (p === 'X') bits |= isDir || (mode & 0o111) !== 0 ? 0o111 : 0;
        else if (p === 's') bits |= 0o6000;
        else if (p === 't') bits |= 0o1000;
      }
      bits &= who;
      if (op[0] === '+') mode |= bits;
      else if (op[0] === '-') mode &= ~bits;
      else mode = (mode & ~who) | bits;
    }
  }
  return mode;
}
