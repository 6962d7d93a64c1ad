import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/schema.js';

/** JSON lines on stdout (journald and log shippers take them as they are), written synchronously so none is lost at exit. */
export function createLogger(level: LogLevel, destination: NodeJS.WritableStream | number = 1): Logger {
  const stream = typeof destination === 'number' ? pino.destination({ dest: destination, sync: true }) : destination;
  return pino({ level, base: { pid: process.pid, name: 'gpupoold' }, timestamp: pino.stdTimeFunctions.isoTime }, stream);
}
