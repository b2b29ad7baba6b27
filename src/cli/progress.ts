/** A progress bar on stderr, only when stderr is a TTY and the run has lasted over a second. */
export class Progress {
  private readonly t0 = performance.now();
  private last = 0;
  private shown = false;
  private readonly enabled: boolean;

  constructor(private readonly label: string, enabled = true) {
    this.enabled = enabled && process.stderr.isTTY === true;
  }

  update(done: number, total: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.t0 < 1000 || now - this.last < 100) return;
    this.last = now;
    this.shown = true;
    const frac = Math.min(1, done / total);
    const width = 30;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const secs = ((now - this.t0) / 1000).toFixed(1);
    process.stderr.write(`\r${this.label} [${bar}] ${(frac * 100).toFixed(1)}% ${secs}s`);
  }

  done(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
  }
}
