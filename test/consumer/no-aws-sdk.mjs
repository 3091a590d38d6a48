// `node --import ./no-aws-sdk.mjs invoke.mjs <module>`: makes every `@aws-sdk/*` package
// unreachable (import and require alike, through module.registerHooks) and records each attempt on
// stderr as `AWS SDK requested: <specifier>`. A function that needs no AWS SDK client (an inline key,
// no shared cache table) must load and answer with it so, and never ask.
import { registerHooks } from 'node:module'

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier.startsWith('@aws-sdk/')) {
      process.stderr.write(`AWS SDK requested: ${specifier}\n`)
      const error = new Error(`Cannot find package '${specifier}' (made unreachable by no-aws-sdk.mjs)`)
      error.code = 'ERR_MODULE_NOT_FOUND'
      throw error
    }
    return nextResolve(specifier, context)
  },
})
