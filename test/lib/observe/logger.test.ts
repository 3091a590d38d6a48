import { Logger } from '@aws-lambda-powertools/logger'
import { describe, expect, it } from 'vitest'
import { createLogger, type KitLogger, type LogLevel } from '../../../lib/observe.ts'
import { logsDebug } from '../../../lib/observe/logger.ts'
import { lambdaContext } from '../../helpers/events.ts'

function capture(options: { env?: Record<string, string>; level?: LogLevel; serviceName?: string } = {}) {
  const lines: string[] = []
  const logger = createLogger({ env: {}, ...options, write: (line) => void lines.push(line) })
  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  return { logger, lines, parsed }
}

describe('createLogger', () => {
  it("writes one JSON line per call in Powertools' shape, attributes at the top level", () => {
    const { logger, lines, parsed } = capture({
      env: {
        POWERTOOLS_SERVICE_NAME: 'orders',
        _X_AMZN_TRACE_ID: 'Root=1-5e1b4151-5ac6c58f5b5dbd6a1b8f3c2a;Parent=53995c3f42cd8ad8;Sampled=1',
      },
    })
    logger.info('signing key loaded', { kid: 'k1', durationMs: 12.5, absent: undefined })
    expect(lines).toHaveLength(1)
    expect(lines[0]?.endsWith('}\n')).toBe(true)
    expect(parsed()[0]).toStrictEqual({
      level: 'INFO',
      message: 'signing key loaded',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      service: 'orders',
      xray_trace_id: '1-5e1b4151-5ac6c58f5b5dbd6a1b8f3c2a',
      kid: 'k1',
      durationMs: 12.5,
    })
  })

  it('adds the Lambda context (request id, function, cold start) once given', () => {
    const { logger, parsed } = capture()
    const context = lambdaContext()
    logger.addContext(context, true)
    logger.warn('x', {})
    logger.addContext(lambdaContext(), false)
    logger.error('y', {})
    const [first, second] = parsed()
    expect(first).toMatchObject({
      level: 'WARN',
      service: 'service_undefined',
      cold_start: true,
      function_name: context.functionName,
      function_arn: context.invokedFunctionArn,
      function_memory_size: 512,
      function_request_id: context.awsRequestId,
    })
    expect(second).toMatchObject({ level: 'ERROR', cold_start: false })
    expect(second?.['function_request_id']).not.toBe(context.awsRequestId)
  })

  it.each([
    [{}, 'INFO'],
    [{ POWERTOOLS_LOG_LEVEL: 'debug' }, 'DEBUG'],
    [{ LOG_LEVEL: 'WARN' }, 'WARN'],
    [{ POWERTOOLS_LOG_LEVEL: 'DEBUG', AWS_LAMBDA_LOG_LEVEL: 'ERROR' }, 'ERROR'],
    [{ POWERTOOLS_LOG_LEVEL: 'WARN', AWS_LAMBDA_LOG_LEVEL: 'DEBUG' }, 'WARN'],
    [{ AWS_LAMBDA_LOG_LEVEL: 'FATAL' }, 'CRITICAL'],
    [{ POWERTOOLS_LOG_LEVEL: 'nonsense' }, 'INFO'],
    [{ POWERTOOLS_LOG_LEVEL: 'SILENT' }, 'SILENT'],
  ] as const)('level from %j is %s', (env, level) => {
    const { logger, parsed } = capture({ env })
    expect(logger.level).toBe(level)
    for (const method of ['debug', 'info', 'warn', 'error'] as const) logger[method](method, {})
    const order = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT']
    expect(parsed().map((line) => line['level'])).toEqual(
      ['DEBUG', 'INFO', 'WARN', 'ERROR'].filter((name) => order.indexOf(name) >= order.indexOf(level)),
    )
  })

  it('an explicit level and service name win over the environment', () => {
    const { logger, parsed } = capture({
      env: { POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_SERVICE_NAME: 'env' },
      level: 'DEBUG',
      serviceName: 'mine',
    })
    logger.debug('d', {})
    expect(parsed()[0]).toMatchObject({ level: 'DEBUG', service: 'mine' })
  })

  it('filters by the parsed level when the option is spelled another way (warning, debug)', () => {
    const { logger, parsed } = capture({ level: 'warning' as LogLevel })
    logger.debug('d', {})
    logger.info('i', {})
    logger.warn('w', {})
    expect(logger.level).toBe('WARN')
    expect(parsed().map((line) => line['level'])).toEqual(['WARN'])
  })

  it('rejects bad options with TypeError', () => {
    expect(() => createLogger({ level: 'LOUD' as LogLevel })).toThrow(TypeError)
    expect(() => createLogger({ serviceName: '' })).toThrow(TypeError)
    expect(() => createLogger({ write: 'stdout' as unknown as () => void })).toThrow(TypeError)
    expect(() => createLogger({ colour: true } as never)).toThrow(/colour is not a known option/)
  })
})

describe('logsDebug', () => {
  it("knows the kit's logger and a Powertools Logger, and assumes no for others", () => {
    expect(logsDebug(createLogger({ env: { POWERTOOLS_LOG_LEVEL: 'DEBUG' } }))).toBe(true)
    expect(logsDebug(createLogger({ env: {} }))).toBe(false)
    expect(logsDebug(new Logger({ logLevel: 'DEBUG' }))).toBe(true)
    expect(logsDebug(new Logger({ logLevel: 'INFO' }))).toBe(false)
    expect(logsDebug(console)).toBe(false)
    // A Powertools Logger fits the kit's logger type as it is.
    const fits: KitLogger = new Logger()
    expect(typeof fits.debug).toBe('function')
  })
})
