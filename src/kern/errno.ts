/*
 * errno: the error numbers used inside every layer (BSD values).
 * Inside the layers an error is a value: 0 for success, one of these otherwise.
 * Only src/api and src/cli turn them into thrown errors, with context.
 */

export const EPERM = 1;
export const ENOENT = 2;
export const EIO = 5;
export const ENXIO = 6;
export const ENODEV = 19;
export const E2BIG = 7;
export const EBADF = 9;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const EXDEV = 18;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const EFBIG = 27;
export const ENOSPC = 28;
export const EROFS = 30;
export const EMLINK = 31;
export const ERANGE = 34;
export const EAGAIN = 35;
export const EOPNOTSUPP = 45;
export const ENETUNREACH = 51;
export const ECONNRESET = 54;
export const ETIMEDOUT = 60;
export const ECONNREFUSED = 61;
export const EHOSTUNREACH = 65;
export const EOVERFLOW = 84;
export const ELOOP = 62;
export const ENAMETOOLONG = 63;
export const ENOTEMPTY = 66;
export const EDQUOT = 69;
export const ENOTSUP = EOPNOTSUPP;
/** No such extended attribute (BSD's ENOATTR; Linux and Node say ENODATA). */
export const ENOATTR = 87;
/** Structure needs cleaning: a damaged on-disk value (BSD's EINTEGRITY). */
export const EINTEGRITY = 97;
/** The kernel's SIGBUS: an access through a mapping past the end of its object. */
export const EFAULT_SIGBUS = 10_000;

const names: Record<number, [string, string]> = {
  [EPERM]: ['EPERM', 'operation not permitted'],
  [ENOENT]: ['ENOENT', 'no such file or directory'],
  [EIO]: ['EIO', 'input/output error'],
  [ENXIO]: ['ENXIO', 'device not configured'],
  [ENODEV]: ['ENODEV', 'not a file or block device'],
  [E2BIG]: ['E2BIG', 'argument list too long'],
  [EBADF]: ['EBADF', 'bad file descriptor'],
  [ENOMEM]: ['ENOMEM', 'cannot allocate memory'],
  [EACCES]: ['EACCES', 'permission denied'],
  [EFAULT]: ['EFAULT', 'bad address'],
  [EBUSY]: ['EBUSY', 'device busy'],
  [EEXIST]: ['EEXIST', 'file exists'],
  [EXDEV]: ['EXDEV', 'cross-device link'],
  [ENOTDIR]: ['ENOTDIR', 'not a directory'],
  [EISDIR]: ['EISDIR', 'is a directory'],
  [EINVAL]: ['EINVAL', 'invalid argument'],
  [ENFILE]: ['ENFILE', 'too many open files in system'],
  [EMFILE]: ['EMFILE', 'too many open files'],
  [EFBIG]: ['EFBIG', 'file too large'],
  [ENOSPC]: ['ENOSPC', 'no space left on device'],
  [EROFS]: ['EROFS', 'read-only file system'],
  [EMLINK]: ['EMLINK', 'too many links'],
  [ERANGE]: ['ERANGE', 'result too large'],
  [EAGAIN]: ['EAGAIN', 'resource temporarily unavailable'],
  [EOPNOTSUPP]: ['EOPNOTSUPP', 'operation not supported'],
  [ENETUNREACH]: ['ENETUNREACH', 'network is unreachable'],
  [ECONNRESET]: ['ECONNRESET', 'connection reset by peer'],
  [ETIMEDOUT]: ['ETIMEDOUT', 'operation timed out'],
  [ECONNREFUSED]: ['ECONNREFUSED', 'connection refused'],
  [EHOSTUNREACH]: ['EHOSTUNREACH', 'no route to host'],
  [EOVERFLOW]: ['EOVERFLOW', 'value too large to be stored in data type'],
  [ELOOP]: ['ELOOP', 'too many levels of symbolic links'],
  [ENAMETOOLONG]: ['ENAMETOOLONG', 'file name too long'],
  [ENOTEMPTY]: ['ENOTEMPTY', 'directory not empty'],
  [ENOATTR]: ['ENODATA', 'no such attribute'],
  [EDQUOT]: ['EDQUOT', 'disk quota exceeded'],
  [EINTEGRITY]: ['EINTEGRITY', 'integrity check failed (damaged file system)'],
  [EFAULT_SIGBUS]: ['SIGBUS', 'access past the end of the mapped object'],
};

/** The symbolic name of an errno, e.g. 'EIO'. */
export function errnoName(error: number): string {
  return names[error]?.[0] ?? `E${error}`;
}

/** A short lower-case description of an errno, like strerror(3). */
export function strerror(error: number): string {
  return names[error]?.[1] ?? `error ${error}`;
}
