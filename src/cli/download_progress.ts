/**
 * Download progress on stderr: a live bar (bytes and rate) when stderr is a terminal,
 * otherwise a quiet line at the start and end of each transfer (logs, CI, pipes).
 */
import { Presets, SingleBar } from 'cli-progress';
import type { DownloadReporter } from '../data/download';

export function downloadReporter(stream: NodeJS.WriteStream = process.stderr): DownloadReporter {
  return stream.isTTY ? barReporter(stream) : lineReporter(stream);
}

/** 9_912_422 -> "9.9 MB" (decimal units, as download sizes are usually quoted). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

interface Transfer {
  startedAt: number;
  received: number;
}

function rate(transfer: Transfer): string {
  const seconds = (Date.now() - transfer.startedAt) / 1000;
  return seconds > 0 ? `${formatBytes(transfer.received / seconds)}/s` : '-';
}

function lineReporter(stream: NodeJS.WriteStream): DownloadReporter {
  let transfer: Transfer | undefined;
  return {
    note: (line) => stream.write(`${line}\n`),
    transferStart(_label, url, totalBytes) {
      transfer = { startedAt: Date.now(), received: 0 };
      stream.write(`downloading ${url}${totalBytes === undefined ? '' : ` (${formatBytes(totalBytes)})`}\n`);
    },
    transferProgress(received) {
      if (transfer !== undefined) transfer.received = received;
    },
    transferEnd(ok) {
      if (transfer !== undefined && ok) {
        const seconds = ((Date.now() - transfer.startedAt) / 1000).toFixed(1);
        stream.write(`  received ${formatBytes(transfer.received)} in ${seconds} s (${rate(transfer)})\n`);
      }
      transfer = undefined;
    },
  };
}

function barReporter(stream: NodeJS.WriteStream): DownloadReporter {
  let bar: SingleBar | undefined;
  let transfer: Transfer | undefined;
  return {
    note: (line) => stream.write(`${line}\n`),
    transferStart(label, _url, totalBytes) {
      transfer = { startedAt: Date.now(), received: 0 };
      const format =
        totalBytes === undefined ? '{label} {received} | {rate}' : '{label} [{bar}] {percentage}% | {received} / {size} | {rate}';
      bar = new SingleBar({ stream, format, hideCursor: true, clearOnComplete: false }, Presets.shades_classic);
      bar.start(totalBytes ?? 0, 0, { label, received: formatBytes(0), size: formatBytes(totalBytes ?? 0), rate: '-' });
    },
    transferProgress(received) {
      if (bar === undefined || transfer === undefined) return;
      transfer.received = received;
      bar.update(received, { received: formatBytes(received), rate: rate(transfer) });
    },
    transferEnd() {
      bar?.stop();
      bar = undefined;
      transfer = undefined;
    },
  };
}
