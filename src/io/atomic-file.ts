/**
 * Atomic output files: everything is written to a temporary file beside the destination and
 * renamed into place only when complete, so an error or interruption never leaves a partial or
 * corrupt file. open() is called before any expensive work so an unwritable path fails fast.
 */
import { closeSync, openSync, renameSync, unlinkSync, writeSync, existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UsageError } from '../errors.js';

const live = new Set<string>();
let hooked = false;

/** Remove temporaries if the process is interrupted. */
function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  const cleanup = () => {
    for (const f of live) {
      try {
        unlinkSync(f);
      } catch {
        /* already gone */
      }
    }
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanup();
      // Re-raise with the default action (the listener is gone): the process dies by the
      // signal at once. process.exit() would first tear down worker threads, which aborts
      // when one is inside a native call (an ORT session.run).
      process.kill(process.pid, sig);
    });
  }
}

export class AtomicFile {
  private fd: number | null;
  readonly tmp: string;

  private constructor(readonly path: string, fd: number, tmp: string) {
    this.fd = fd;
    this.tmp = tmp;
  }

  static open(path: string): AtomicFile {
    const dir = dirname(path);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`cannot write ${path}: directory ${dir} does not exist`);
    if (existsSync(path) && statSync(path).isDirectory()) throw new UsageError(`cannot write ${path}: it is a directory`);
    const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
    let fd: number;
    try {
      fd = openSync(tmp, 'wx');
    } catch (e) {
      throw new UsageError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    hookSignals();
    live.add(tmp);
    return new AtomicFile(path, fd, tmp);
  }

  write(data: Uint8Array | string): void {
    if (this.fd === null) throw new Error('AtomicFile: already closed');
    if (typeof data === 'string') {
      writeSync(this.fd, data);
      return;
    }
    let off = 0;
    while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
  }

  commit(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
    renameSync(this.tmp, this.path);
    live.delete(this.tmp);
  }

  abort(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
    try {
      unlinkSync(this.tmp);
    } catch {
      /* already gone */
    }
    live.delete(this.tmp);
  }
}

/**
 * Write a whole file atomically. `data` may be a function: it is called after the temporary
 * file is open, so an unwritable path fails before the work of producing the bytes.
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
