/**
 * The kit's logging: through a logger the user passes (a Powertools `Logger` works as is, and so does
 * anything with `debug`/`info`/`warn`/`error`), or through `createLogger()`, a small JSON logger that
 * writes lines in the shape Powertools' Logger writes them, so the same Logs Insights queries work
 * on both (https://docs.powertools.aws.dev/lambda/typescript/latest/core/logger/).
 *
 * Nothing here decides what is logged: lib/observe/observer.ts turns the kit's events into lines.
 */
import type { LambdaContext } from '../types.ts'
import { checkFunction, checkKnownKeys, checkOptionalName, checkOptionsObject, optionKeys } from '../util/option-checks.ts'
import { InvalidOptionError } from '../errors.ts'

/** Extra keys of one line; merged into the JSON object at the top level, as Powertools does. */
export type LogAttributes = Readonly<Record<string, string | number | boolean | undefined>>

/**
 * What the kit needs of a logger: a Powertools `Logger`, `console`, pino and most others fit.
 * Each method receives a fixed message and one object of token-free attributes.
 */
export interface KitLogger {
  debug(message: string, attributes: LogAttributes): void
  info(message: string, attributes: LogAttributes): void
  warn(message: string, attributes: LogAttributes): void
  error(message: string, attributes: LogAttributes): void
}

/** Powertools' level names; `SILENT` logs nothing. */
export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'CRITICAL' | 'SILENT'

/** Powertools' numeric thresholds. */
const LEVELS: Readonly<Record<LogLevel, number>> = { TRACE: 6, DEBUG: 8, INFO: 12, WARN: 16, ERROR: 20, CRITICAL: 24, SILENT: 28 }

export interface LoggerOptions {
  /** The `service` key. Default `POWERTOOLS_SERVICE_NAME`, else `service_undefined` (as Powertools). */
  serviceName?: string | undefined
  /**
   * The lowest level written. Default `POWERTOOLS_LOG_LEVEL`, else `LOG_LEVEL`, else `INFO`; when
   * `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls) is stricter, it wins, as Lambda
   * would drop the lower lines anyway.
   */
  level?: LogLevel | undefined
  /** Where the variables above are read. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>> | undefined
  /** Receives each finished line (with its newline). Default: one `process.stdout.write` per line. */
  write?: ((line: string) => void) | undefined
}

const LOGGER_OPTION_KEYS = optionKeys<LoggerOptions>()('serviceName', 'level', 'env', 'write')

/** The kit's own logger: `KitLogger` plus the Lambda context of the current invocation. */
export interface JsonLogger extends KitLogger {
  readonly level: LogLevel
  readonly serviceName: string
  /** Whether a line of `level` would be written. */
  isEnabled(level: LogLevel): boolean
  /** Adds the invocation's keys (request id, function name, cold start) to every later line. */
  addContext(context: Partial<LambdaContext>, coldStart: boolean): void
}

/** Builds the kit's JSON logger; bad options throw `TypeError`. */
export function createLogger(options: LoggerOptions = {}): JsonLogger {
  checkOptionsObject('logger', options, 'options must be an object')
  checkKnownKeys(options, LOGGER_OPTION_KEYS)
  const env = options.env ?? process.env
  if (options.level !== undefined && parseLevel(options.level) === undefined)
    throw new InvalidOptionError('level', `must be one of ${Object.keys(LEVELS).join(', ')}`)
  checkFunction('write', options.write)
  checkOptionalName('serviceName', options.serviceName)
  // The parsed spelling: 'warning' and 'debug' are accepted above and must filter as WARN and DEBUG.
  const level = options.level === undefined ? levelFromEnv(env) : (parseLevel(options.level) as LogLevel)
  const threshold = LEVELS[level]
  const serviceName = options.serviceName ?? serviceNameFromEnv(env)
  const write = options.write ?? ((line: string) => void process.stdout.write(line))
  let context: Partial<LambdaContext> | undefined
  let coldStart = false

  const line = (name: Exclude<LogLevel, 'SILENT'>, message: string, attributes: LogAttributes): void => {
    if (LEVELS[name] < threshold) return
    const xray = xrayTraceId(env)
    write(
      `${JSON.stringify({
        level: name,
        message,
        timestamp: new Date().toISOString(),
        service: serviceName,
        ...(context === undefined ? {} : contextKeys(context, coldStart)),
        ...(xray === undefined ? {} : { xray_trace_id: xray }),
        ...attributes,
      })}\n`,
    )
  }

  const logger: JsonLogger = {
    level,
    serviceName,
    isEnabled: (name) => LEVELS[name] >= threshold && name !== 'SILENT',
    addContext(invocation, cold) {
      // Kept as given, read only when a line is written: most invocations write none.
      context = invocation
      coldStart = cold
    },
    debug: (message, attributes) => line('DEBUG', message, attributes),
    info: (message, attributes) => line('INFO', message, attributes),
    warn: (message, attributes) => line('WARN', message, attributes),
    error: (message, attributes) => line('ERROR', message, attributes),
  }
  created.add(logger)
  return logger
}

const created = new WeakSet<object>()

/** Whether `value` came from `createLogger()` (the middleware then gives it each invocation's Lambda context). */
export function isJsonLogger(value: unknown): value is JsonLogger {
  return typeof value === 'object' && value !== null && created.has(value)
}

/** Powertools' key names, so one query serves both loggers. */
function contextKeys(context: Partial<LambdaContext>, coldStart: boolean): Record<string, string | number | boolean> {
  const keys: Record<string, string | number | boolean> = { cold_start: coldStart }
  if (typeof context.functionName === 'string') keys['function_name'] = context.functionName
  if (typeof context.invokedFunctionArn === 'string') keys['function_arn'] = context.invokedFunctionArn
  if (context.memoryLimitInMB !== undefined) keys['function_memory_size'] = Number(context.memoryLimitInMB)
  if (typeof context.awsRequestId === 'string') keys['function_request_id'] = context.awsRequestId
  return keys
}

export function parseLevel(value: unknown): LogLevel | undefined {
  if (typeof value !== 'string') return undefined
  const upper = value.trim().toUpperCase()
  if (upper === 'FATAL') return 'CRITICAL'
  if (upper === 'WARNING') return 'WARN'
  return upper in LEVELS ? (upper as LogLevel) : undefined
}

function levelFromEnv(env: Readonly<Record<string, string | undefined>>): LogLevel {
  const wanted = parseLevel(env['POWERTOOLS_LOG_LEVEL']) ?? parseLevel(env['LOG_LEVEL']) ?? 'INFO'
  const lambda = parseLevel(env['AWS_LAMBDA_LOG_LEVEL'])
  return lambda !== undefined && LEVELS[lambda] > LEVELS[wanted] ? lambda : wanted
}

export function serviceNameFromEnv(env: Readonly<Record<string, string | undefined>>): string {
  const name = env['POWERTOOLS_SERVICE_NAME']
  return name !== undefined && name !== '' ? name : 'service_undefined'
}

/** The trace id Lambda puts in `_X_AMZN_TRACE_ID` (`Root=1-...;Parent=...;Sampled=1`), as Powertools logs it. */
function xrayTraceId(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const header = env['_X_AMZN_TRACE_ID']
  if (header === undefined) return undefined
  const root = header.split(';').find((part) => part.startsWith('Root='))
  return root === undefined ? undefined : root.slice('Root='.length)
}

/** Whether `logger` says it writes debug lines (the kit's own, or a Powertools Logger); `false` when it cannot tell. */
export function logsDebug(logger: KitLogger): boolean {
  const candidate = logger as Partial<JsonLogger> & { getLevelName?: () => string }
  if (typeof candidate.isEnabled === 'function') return candidate.isEnabled('DEBUG')
  if (typeof candidate.getLevelName === 'function') {
    const level = parseLevel(candidate.getLevelName())
    return level !== undefined && LEVELS[level] <= LEVELS.DEBUG
  }
  return false
}

export function isKitLogger(value: unknown): value is KitLogger {
  if (value === null || typeof value !== 'object') return false
  const candidate = value as Partial<Record<keyof KitLogger, unknown>>
  return (
    typeof candidate.debug === 'function' &&
    typeof candidate.info === 'function' &&
    typeof candidate.warn === 'function' &&
    typeof candidate.error === 'function'
  )
}
