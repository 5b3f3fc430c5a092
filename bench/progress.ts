/**
 * A single-line progress indicator on stderr. On a terminal the line is rewritten in place; otherwise (CI, a pipe)
 * it prints plain lines, only when the text's phase changes or every few seconds, so logs stay readable.
 */
export class Progress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private lastText = '';
  private lastPhase = '';
  private lastPlainAt = 0;
  private lastDrawAt = 0;
  private readonly started = Date.now();

  /** Shows `phase: detail`; the phase decides when a non-terminal gets a new line. */
  update(phase: string, detail = ''): void {
    const text = `[${this.elapsed()}] ${phase}${detail ? ` ${detail}` : ''}`;
    if (this.tty) {
      const now = Date.now();
      if (phase === this.lastPhase && now - this.lastDrawAt < 100) return;
      this.lastDrawAt = now;
      const width = (process.stderr.columns ?? 100) - 1;
      process.stderr.write(`\r\x1b[2K${text.slice(0, width)}`);
    } else if (phase !== this.lastPhase || Date.now() - this.lastPlainAt > 5000) {
      process.stderr.write(`${text}\n`);
      this.lastPlainAt = Date.now();
    }
    this.lastPhase = phase;
    this.lastText = text;
  }

  /** Prints a line that stays (a finished step), keeping the progress line below it. */
  log(line: string): void {
    if (this.tty) process.stderr.write(`\r\x1b[2K${line}\n${this.lastText}`);
    else process.stderr.write(`${line}\n`);
  }

  /** Clears the progress line. */
  done(): void {
    if (this.tty) process.stderr.write('\r\x1b[2K');
  }

  private elapsed(): string {
    const seconds = Math.floor((Date.now() - this.started) / 1000);
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
  }
}
