/**
 * Atomic output files: everything is written to a temporary file beside the destination and
 * renamed into place only when complete, so an error or interruption never leaves a partial or
 * corrupt file.
 *
 * open() only checks the destination (so an unwritable path fails fast, before any expensive
 * work) and reserves the temporary's name; the temporary itself is created by the first write
 * (or by commit()), so a process killed outright (SIGKILL, the OOM killer) during the expensive
 * work leaves nothing behind. SIGINT, SIGTERM and SIGHUP remove live temporaries and end the
 * process by the signal.
 *
 * An existing destination keeps its permission bits, and a symbolic link stays a link: the
 * temporary is made in the directory of the link's target and renamed over that target.
 *
 * Write failures with the usual causes (full disk, quota, read-only file system, permissions,
 * ...) are UsageErrors naming the destination: "cannot write out.npy: no space left on device".
 */
import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  existsSync,
  fchmodSync,
  lstatSync,
  openSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  write as fsWrite,
  writeSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { UsageError } from '../errors.js';

/** Why a file operation failed, in words, for the errnos a user can do something about. */
const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EIO: 'input/output error',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  ENOENT: 'no such file or directory',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many levels of symbolic links',
  ETXTBSY: 'text file busy',
  EBUSY: 'device or resource busy',
  ENXIO: 'no such device or address',
  EEXIST: 'a file of that name exists',
};

/** The reason in words for an errno error a user can act on, else null. */
export function errnoReason(e: unknown): string | null {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(REASONS, code) ? REASONS[code] : null;
}

/** Why a file operation failed, for a one-line message: the reason in words, else the errno code, else the message. */
export function fsReason(e: unknown): string {
  return errnoReason(e) ?? (e as NodeJS.ErrnoException | null)?.code ?? (e instanceof Error ? e.message.split('\n')[0] : String(e));
}

/** A failed write of `path` as the user sees it: a one-line UsageError for the usual errnos, `e` itself otherwise (a bug). */
export function writeError(path: string, e: unknown): Error {
  if (e instanceof UsageError) return e;
  const reason = errnoReason(e);
  if (reason !== null) return new UsageError(`cannot write ${path}: ${reason}`);
  return e instanceof Error ? e : new Error(String(e));
}

/** Temporary path (absolute) -> the destination as the user named it. */
const live = new Map<string, string>();
let hooked = false;
/** Set once SIGINT / SIGTERM / SIGHUP arrived: long writes stop and nothing is committed. */
let interrupted: NodeJS.Signals | null = null;
let counter = 0;

/** Folders a run created and has not finished: removed, whole, if it fails or is interrupted. */
const liveFolders = new Set<string>();

function cleanup(): void {
  for (const f of live.keys()) {
    try {
      unlinkSync(f);
    } catch {
      /* never created, or already gone */
    }
  }
  live.clear();
  for (const d of liveFolders) rmSync(d, { recursive: true, force: true });
  liveFolders.clear();
}

/**
 * A run folder (or a scratch folder) that exists only for a run that is still going: `path`
 * must not exist yet. It is removed with everything in it on discard(), on SIGINT, SIGTERM or
 * SIGHUP and at exit, unless keep() was called first; so a failed or interrupted run leaves
 * no half-filled folder behind. For a folder that exists already, both are no-ops, unless
 * the caller has just made it itself (`createdByCaller`, e.g. with mkdtemp).
 */
export function newFolderGuard(path: string, createdByCaller = false): { keep(): void; discard(): void } {
  const abs = resolve(path);
  if (!createdByCaller && existsSync(abs)) return { keep: () => undefined, discard: () => undefined };
  hookSignals();
  liveFolders.add(abs);
  return {
    keep: () => void liveFolders.delete(abs),
    discard: () => {
      if (liveFolders.delete(abs)) rmSync(abs, { recursive: true, force: true });
    },
  };
}

/** Remove temporaries if the process exits or is interrupted. */
function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      interrupted = sig;
      cleanup();
      // Re-raise with the default action (the listener is gone): the process dies by the
      // signal at once (exit status 128 + signal number in a shell). process.exit() would
      // first tear down worker threads, which aborts when one is inside a native call (an ORT
      // session.run).
      process.kill(process.pid, sig);
    });
  }
}

function checkInterrupted(): void {
  if (interrupted !== null) throw new UsageError(`interrupted by ${interrupted}`);
}

/** The first proper prefix of `p` that exists and is not a directory (for ENOTDIR), else dirname(p). */
function nonDirectoryAncestor(p: string): string {
  const parts = p.split(sep);
  let prefix = '';
  for (let i = 0; i < parts.length - 1; i++) {
    prefix = i === 0 ? parts[0] : `${prefix}${sep}${parts[i]}`;
    if (prefix === '') continue; // the root of an absolute path
    try {
      if (!statSync(prefix).isDirectory()) return prefix;
    } catch {
      break;
    }
  }
  return dirname(p);
}

/** Where a dangling symbolic link points (followed to the end); `p` itself when it is no link. */
function followLinks(p: string): string {
  let cur = p;
  for (let hops = 0; hops < 40; hops++) {
    let st: Stats;
    try {
      st = lstatSync(cur);
    } catch {
      return cur; // nothing there (yet): the file to create
    }
    if (!st.isSymbolicLink()) return cur;
    const to = readlinkSync(cur);
    cur = isAbsolute(to) ? to : join(dirname(cur), to);
  }
  const e = new Error(`too many symbolic links: ${p}`) as NodeJS.ErrnoException;
  e.code = 'ELOOP';
  throw e;
}

interface Destination {
  /** the destination as the user named it (for messages) */
  display: string;
  /** the file actually replaced: symbolic links resolved */
  target: string;
  /** permission bits (rwx, not setuid / setgid / sticky) to keep: the existing file's, or null for a new file */
  mode: number | null;
}

/** Checks that `path` can be written (fails fast with a UsageError) and resolves it. */
function destination(path: string): Destination {
  const display = live.get(resolve(path)) ?? path; // a temporary of ours: report the real output
  const fail = (why: string) => new UsageError(`cannot write ${display || "''"}: ${why}`);
  if (path === '') throw fail('the file name is empty');
  if (path.endsWith('/') || path.endsWith(sep)) {
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      /* not a directory */
    }
    throw fail(isDir ? 'it is a directory' : `a file name cannot end in '${path[path.length - 1]}'`);
  }
  let st: Stats | null = null;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw fail(`${nonDirectoryAncestor(path)} is not a directory`);
    if (code !== 'ENOENT') throw writeError(display, e);
  }
  if (st?.isDirectory()) throw fail('it is a directory');
  if (st !== null && !st.isFile()) throw fail('not a regular file (outputs are written to a temporary file and renamed into place)');
  let target: string;
  try {
    target = st !== null ? realpathSync(path) : followLinks(path);
  } catch (e) {
    throw writeError(display, e);
  }
  const dir = dirname(target);
  let dst: Stats;
  try {
    dst = statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw fail(`directory ${dir} does not exist`);
    if (code === 'ENOTDIR') throw fail(`${nonDirectoryAncestor(target)} is not a directory`);
    throw writeError(display, e);
  }
  if (!dst.isDirectory()) throw fail(`${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw writeError(display, e);
  }
  return { display, target, mode: st !== null ? st.mode & 0o777 : null };
}

/** Large writes go in pieces of this size, so an interruption is seen between them. */
const PIECE = 16 << 20;

function writeAsync(fd: number, buf: Uint8Array, off: number, len: number): Promise<number> {
  return new Promise((res, rej) => fsWrite(fd, buf, off, len, null, (err, n) => (err ? rej(err) : res(n))));
}

export class AtomicFile {
  private fd: number | null = null;
  private state: 'reserved' | 'open' | 'committed' | 'aborted' = 'reserved';
  /** The temporary's path: written by write(), or by another writer that is handed this path. */
  readonly tmp: string;
  private readonly target: string;
  private readonly mode: number | null;
  private readonly display: string;

  private constructor(readonly path: string, dest: Destination) {
    this.target = dest.target;
    this.mode = dest.mode;
    this.display = dest.display;
    const name = basename(dest.target).slice(0, 160); // room for the suffix within NAME_MAX
    this.tmp = resolve(dirname(dest.target), `.${name}.${process.pid}.${(counter++).toString(36)}${Date.now().toString(36)}.tmp`);
  }

  /** Checks the destination now (a UsageError if it cannot be written); creates nothing yet. */
  static open(path: string): AtomicFile {
    const f = new AtomicFile(path, destination(path));
    hookSignals();
    live.set(f.tmp, f.display);
    return f;
  }

  private fail(e: unknown): Error {
    this.abort();
    return writeError(this.display, e);
  }

  private ensureOpen(): number {
    if (this.fd !== null) return this.fd;
    if (this.state !== 'reserved') throw new Error(`AtomicFile: already ${this.state === 'aborted' ? 'aborted' : 'committed'}`);
    checkInterrupted();
    try {
      this.fd = openSync(this.tmp, 'wx', this.mode ?? 0o666);
      // the umask may have cleared bits of the existing file's mode
      if (this.mode !== null) fchmodSync(this.fd, this.mode);
    } catch (e) {
      throw this.fail(e);
    }
    this.state = 'open';
    return this.fd;
  }

  write(data: Uint8Array | string): void {
    const fd = this.ensureOpen();
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    try {
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      throw this.fail(e);
    }
  }

  /**
   * write() without blocking the event loop: signal handlers (and anything else) run while the
   * bytes go out. Stops with an error, the temporary removed, once the process is interrupted.
   */
  async writeAsync(data: Uint8Array | string): Promise<void> {
    const fd = this.ensureOpen();
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    try {
      let off = 0;
      while (off < buf.length) {
        checkInterrupted();
        off += await writeAsync(fd, buf, off, Math.min(PIECE, buf.length - off));
      }
      checkInterrupted();
    } catch (e) {
      throw this.fail(e);
    }
  }

  /** Renames the complete temporary into place. */
  commit(): void {
    if (this.state === 'committed') return;
    if (this.state === 'aborted') throw new Error('AtomicFile: already aborted');
    try {
      checkInterrupted();
      if (this.fd !== null) {
        const fd = this.fd;
        this.fd = null;
        closeSync(fd);
      } else {
        // Written by another writer through `tmp`, or an empty file.
        if (!existsSync(this.tmp)) closeSync(openSync(this.tmp, 'wx', this.mode ?? 0o666));
        if (this.mode !== null) chmodSync(this.tmp, this.mode);
      }
      checkInterrupted();
      renameSync(this.tmp, this.target);
    } catch (e) {
      throw this.fail(e);
    }
    this.state = 'committed';
    live.delete(this.tmp);
  }

  /** Removes the temporary (if any); the destination is left as it was. Safe to call twice. */
  abort(): void {
    if (this.state === 'committed') return;
    if (this.fd !== null) {
      const fd = this.fd;
      this.fd = null;
      try {
        closeSync(fd);
      } catch {
        /* the write already failed; the file goes anyway */
      }
    }
    try {
      unlinkSync(this.tmp);
    } catch {
      /* never created, or already gone */
    }
    this.state = 'aborted';
    live.delete(this.tmp);
  }
}

/**
 * Write a whole file atomically. `data` may be a function: it is called after the destination
 * is checked, so an unwritable path fails before the work of producing the bytes.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string | (() => Uint8Array | string)): void {
  const f = AtomicFile.open(path);
  try {
    f.write(typeof data === 'function' ? data() : data);
    f.commit();
  } catch (e) {
    f.abort();
    throw e;
  }
}

/** Runs `job`, which fills the run folder `out`: a folder it creates is removed if the job fails or the process is interrupted. */
export async function withRunFolder<T>(out: string, job: () => Promise<T>): Promise<T> {
  const guard = newFolderGuard(out);
  try {
    const result = await job();
    guard.keep();
    return result;
  } catch (e) {
    guard.discard();
    throw e;
  }
}
