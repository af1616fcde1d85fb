/**
 * Progress of one epoch: a live bar (cli-progress) when stderr is a terminal, else a
 * plain status line now and then so that logs of long runs still show life.
 */

import { SingleBar } from 'cli-progress';
import { formatPercent } from '../evaluation/table';

export interface StepStats {
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
}

/** How often the non-terminal fallback prints a status line. */
const PLAIN_INTERVAL_MS = 60_000;

export class EpochProgress {
  private bar: SingleBar | undefined;
  private lastPlain = 0;
  private label = '';
  private total = 0;
  private startTime = 0;
  private startValue = 0;

  constructor(
    private readonly log: (line: string) => void,
    private readonly live: boolean,
  ) {}

  start(label: string, total: number, startValue: number): void {
    this.label = label;
    this.total = total;
    this.startTime = Date.now();
    this.startValue = startValue;
    this.lastPlain = this.startTime;
    if (this.live) {
      this.bar = new SingleBar({
        format: `${label} [{bar}] {value}/{total} | loss {loss} | acc {acc} | {ips} img/s | ETA {eta_formatted}`,
        barsize: 24,
        etaBuffer: 50,
        hideCursor: null,
        stream: process.stderr,
      });
      this.bar.start(total, startValue, payload({ loss: NaN, accuracy: NaN, imagesPerSecond: 0 }));
    }
  }

  update(value: number, stats: StepStats): void {
    if (this.bar !== undefined) {
      this.bar.update(value, payload(stats));
      return;
    }
    const now = Date.now();
    if (now - this.lastPlain >= PLAIN_INTERVAL_MS) {
      this.lastPlain = now;
      const rate = (value - this.startValue) / ((now - this.startTime) / 1000);
      const eta = rate > 0 ? formatDuration((this.total - value) / rate) : '?';
      const p = payload(stats);
      this.log(`${this.label} step ${value}/${this.total} | loss ${p.loss} | acc ${p.acc} | ${p.ips} img/s | ETA ${eta}`);
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

function payload(stats: StepStats): { loss: string; acc: string; ips: string } {
  return {
    loss: Number.isFinite(stats.loss) ? stats.loss.toFixed(4) : '-',
    acc: Number.isFinite(stats.accuracy) ? formatPercent(stats.accuracy) : '-',
    ips: stats.imagesPerSecond.toFixed(0),
  };
}

/** "1h02m", "3m05s", "12.3s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s).padStart(2, '0')}s`;
}
