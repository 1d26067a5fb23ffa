// File-system errors caused by the paths or the machine a user gave us (a file where
// a folder should be, no permission, a full disk) are not tlkit bugs: they get the
// one-paragraph message and exit status 2 of bad input, naming the path and the fix.

const FIXES: Record<string, { what: string; fix: string }> = {
  EACCES: { what: 'permission denied', fix: 'Check the permissions of that path, or choose another one.' },
  EPERM: { what: 'operation not permitted', fix: 'Check the permissions of that path, or choose another one.' },
  EROFS: { what: 'the file system is read-only', fix: 'Choose an output folder on a writable disk.' },
  ENOSPC: {
    what: 'the disk is full',
    fix: 'Free some disk space or choose an output folder on another disk; files written before (checkpoints, caches) are complete.',
  },
  EDQUOT: { what: 'the disk quota is exceeded', fix: 'Free some space or choose an output folder on another disk.' },
  EISDIR: { what: 'it is a folder where a file was expected', fix: 'Give a file path, or move the folder away.' },
  ENOTDIR: { what: 'a part of the path is a file where a folder was expected', fix: 'Give a path whose parents are folders.' },
  EEXIST: { what: 'a file is in the way', fix: 'Give a path that is a folder or does not exist yet, or move the file away.' },
  ENAMETOOLONG: { what: 'the path is too long', fix: 'Use a shorter path.' },
};

const VERBS: Record<string, string> = {
  open: 'open',
  mkdir: 'create the folder',
  rename: 'move',
  rmdir: 'remove',
  unlink: 'remove',
  write: 'write',
  read: 'read',
  scandir: 'list',
  copyfile: 'copy',
};

/** The user-facing message for a file-system error due to a path or the machine, else undefined. */
export function describeSystemError(e: unknown): string | undefined {
  const err = e as NodeJS.ErrnoException | undefined;
  if (!err || typeof err.code !== 'string' || !(err.code in FIXES)) return undefined;
  const { what, fix } = FIXES[err.code];
  const verb = (err.syscall && VERBS[err.syscall]) ?? 'use';
  const dest = (err as { dest?: string }).dest;
  const where = err.path ? `${err.path}${dest ? ` to ${dest}` : ''}` : 'a file';
  return `Cannot ${verb} ${where}: ${what} (${err.code}). ${fix}`;
}
