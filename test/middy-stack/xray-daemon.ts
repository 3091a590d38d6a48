/**
 * Tracing on as in Lambda, for the tracer tests: the X-Ray SDK in Lambda mode (a facade segment from
 * _X_AMZN_TRACE_ID) sends each closed subsegment over UDP to the daemon address, here a socket on
 * 127.0.0.1 that keeps every datagram. Imports no SDK: `lambdaTracingEnv` must run before the SDK loads.
 */
import { createSocket } from 'node:dgram'
import type { AddressInfo } from 'node:net'

/** The environment Lambda gives a traced function; the X-Ray SDK decides at load whether it runs in Lambda. */
export function lambdaTracingEnv(): void {
  Object.assign(process.env, {
    LAMBDA_TASK_ROOT: '/var/task',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_LAMBDA_FUNCTION_NAME: 'matrix',
    _HANDLER: 'index.handler',
    _X_AMZN_TRACE_ID: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
    AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
    POWERTOOLS_SERVICE_NAME: 'matrix',
    POWERTOOLS_TRACE_ENABLED: 'true',
  })
}

export interface XRayDaemon {
  /** Each datagram received: a JSON header line, then the segment document. */
  readonly datagrams: string[]
  /** `127.0.0.1:port`, for the tracer's `provider.setDaemonAddress` (the SDK read AWS_XRAY_DAEMON_ADDRESS at load, before the port was known). */
  readonly address: string
  close(): void
}

export async function startXRayDaemon(): Promise<XRayDaemon> {
  const socket = createSocket('udp4')
  const datagrams: string[] = []
  socket.on('message', (message) => void datagrams.push(message.toString()))
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  return { datagrams, address: `127.0.0.1:${(socket.address() as AddressInfo).port}`, close: () => socket.close() }
}
