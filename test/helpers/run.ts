/**
 * Runs a script of this repository as its user would (a child process on this Node), and collects
 * what it printed and its exit code.
 */
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'

export interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export function runScript(
  script: string,
  args: readonly string[],
  options: { cwd?: string; env?: Readonly<Record<string, string | undefined>> } = {},
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    child.once('error', reject)
    child.once('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

/** This process's environment without anything that could feed a setting or reach AWS, plus `extra`. */
export function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (
      value === undefined ||
      /^(AWS_|TOKEN_X_|DOWNSTREAM_|IDPORTEN_|API_|SLS_|SERVERLESS_|AZURE_|MASKINPORTEN_|EMPLOYEE_|MACHINE_|EXTERNAL_)/.test(name)
    )
      continue
    env[name] = value
  }
  // No credentials anywhere: packaging must not need them.
  return { ...env, AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_CONFIG_FILE: '/dev/null', SLS_TELEMETRY_DISABLED: '1', ...extra }
}

/** `serverless` (osls) run in `cwd` with `cleanEnv(settings)`; what it printed on both streams, in one `output`. */
export function sls(
  cwd: string,
  args: readonly string[],
  settings: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const bin = path.join(path.dirname(createRequire(import.meta.url).resolve('osls/package.json')), 'bin', 'serverless.js')
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, env: cleanEnv(settings), stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.once('error', reject)
    child.once('exit', (code) => resolve({ code, output }))
  })
}
