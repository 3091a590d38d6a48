// `node --import ./no-aws-sdk.mjs invoke.mjs <module>`: makes the `@aws-sdk/*` packages unreachable
// (import and require alike, through module.registerHooks) and records each attempt on stderr as
// `AWS SDK requested: <specifier>`. A function that needs no AWS SDK client (an inline key, no shared
// cache table) must load and answer with it so, and never ask.
//
// NO_AWS_SDK_ALLOW (comma-separated package names) leaves those packages reachable, recorded still;
// what they import themselves (the client's own @aws-sdk/* and @smithy/* packages) is not recorded.
//
// It also counts the installed kit's own modules that were loaded (files under
// node_modules/tokenx-handler-kit/) and prints `kit modules loaded: <n>` on stderr at exit.
import { registerHooks } from 'node:module'

const allowed = new Set((process.env.NO_AWS_SDK_ALLOW ?? '').split(',').filter(Boolean))
const kitModules = new Set()
process.on('exit', () => process.stderr.write(`kit modules loaded: ${kitModules.size}\n`))

registerHooks({
  load(url, context, nextLoad) {
    if (url.includes('/node_modules/tokenx-handler-kit/')) kitModules.add(url)
    return nextLoad(url, context)
  },
  resolve(specifier, context, nextResolve) {
    if (specifier.startsWith('@aws-sdk/') && !/\/node_modules\/@(aws-sdk|smithy)\//.test(context.parentURL ?? '')) {
      process.stderr.write(`AWS SDK requested: ${specifier}\n`)
      if (!allowed.has(specifier)) {
        const error = new Error(`Cannot find package '${specifier}' (made unreachable by no-aws-sdk.mjs)`)
        error.code = 'ERR_MODULE_NOT_FOUND'
        throw error
      }
    }
    return nextResolve(specifier, context)
  },
})
