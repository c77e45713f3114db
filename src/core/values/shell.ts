// The one way a value enters a shell script the kit runs or installs on a node (templates'
// `{{sh value}}`): whatever it holds, it stays one word and nothing in it is run.

/**
 * The value as one POSIX shell word: in single quotes, inside which nothing is special (a
 * newline neither), each single quote of its own written as '\'' (close, escaped quote, reopen).
 */
export function shellQuote(value: string): string {
  // A shell word is a C string: the kernel would cut an argument at its first NUL.
  if (value.includes("\0")) throw new Error("a shell word cannot hold a NUL character");
  return `'${value.replace(/'/g, "'\\''")}'`;
}

/**
 * A script as the SSH user runs it to act as root. Root's scripts stay exactly as they are
 * (a stack that logs in as root sees no change). Another user's go to `sudo -n` as one
 * argument of `sh -c` (stdin stays the command's): -n fails at once instead of waiting for
 * a password nobody types; the server check refused the stack before if sudo cannot.
 */
export function asRoot(user: string, script: string): string {
  return user === "root" ? script : `sudo -n -- sh -c ${shellQuote(script)}`;
}
