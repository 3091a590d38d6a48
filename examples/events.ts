import { subscribe } from 'node:diagnostics_channel'
import { channelName, type KitEvents } from 'tokenx-handler-kit/observe'

// The kit's events, for metrics of your own: names, codes, statuses and durations, never a token
// or the citizen's identity. Subscribe once, at module scope.
let exchangeMs = 0
subscribe(channelName('exchange'), (message) => {
  const event = message as KitEvents['exchange']
  exchangeMs += event.durationMs
})

export const totalExchangeMs = (): number => exchangeMs
