/**
 * The probes' shared harness: variants invoked one after another, invocation by invocation (the
 * order rotates), each timed on its own in CPU µs; per round a 10%-trimmed mean per variant, and the
 * median and spread over rounds of each variant minus the first (the floor). Two warm-up rounds.
 */
import type { Invoke } from '../floor.ts'
import { lambdaContext } from '../lambda.ts'
import { spread } from '../support.ts'


export interface Variant {
  readonly name: string
  readonly invoke: Invoke
}

function trimmed(samples: Float64Array): number {
  const sorted = samples.slice().sort()
  const drop = Math.floor(sorted.length * 0.1)
  let sum = 0
  for (let i = drop; i < sorted.length - drop; i++) sum += sorted[i] as number
  return sum / (sorted.length - 2 * drop)
}

async function round(variants: readonly Variant[], event: unknown, batch: number): Promise<number[]> {
  const context = lambdaContext()
  const samples = variants.map(() => new Float64Array(batch))
  for (let i = 0; i < batch; i++) {
    for (let k = 0; k < variants.length; k++) {
      const v = (k + i) % variants.length
      const variant = variants[v] as Variant
      const before = process.cpuUsage()
      const result = await variant.invoke(event, context)
      const cpu = process.cpuUsage(before)
      if (result.statusCode !== 200) throw new Error(`${variant.name} answered ${result.statusCode}: ${result.body}`)
      ;(samples[v] as Float64Array)[i] = cpu.user + cpu.system
    }
  }
  return samples.map(trimmed)
}

/** Runs the rounds and prints each variant's median CPU and its median over the first variant (stderr). */
export async function compare(variants: readonly Variant[], event: unknown, { rounds, batch }: { rounds: number; batch: number }): Promise<void> {
  await round(variants, event, batch)
  await round(variants, event, batch)
  const over: number[][] = variants.map(() => [])
  const abs: number[][] = variants.map(() => [])
  for (let r = 0; r < rounds; r++) {
    const means = await round(variants, event, batch)
    means.forEach((m, v) => {
      over[v]?.push(m - (means[0] as number))
      abs[v]?.push(m)
    })
  }
  const width = Math.max(...variants.map(({ name }) => name.length))
  variants.forEach(({ name }, v) => {
    const o = spread(over[v] as number[])
    console.error(`${name.padEnd(width)} ${spread(abs[v] as number[]).median.toFixed(1).padStart(7)} µs   over floor ${o.median.toFixed(1).padStart(6)} µs (IQR ${o.q1.toFixed(1)}–${o.q3.toFixed(1)})`)
  })
}

