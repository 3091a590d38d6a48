/** A logger that keeps what the kit logs, one object per line: `{ level, message, ...attributes }`. */
import type { KitLogger, LogAttributes } from '../../lib/observe.ts'

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error'
  readonly message: string
  readonly [attribute: string]: unknown
}

export function memoryLogger(): KitLogger & { readonly lines: LogLine[] } {
  const lines: LogLine[] = []
  const at = (level: LogLine['level']) => (message: string, attributes: LogAttributes) => void lines.push({ ...attributes, level, message })
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}
