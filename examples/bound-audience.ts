import { tokenX } from 'tokenx-handler-kit'

// The token for orders-api goes to https://orders-api.intern.nav.no only; a relative input
// ('orders') resolves against this URL.
export const orders = tokenX({ audience: { audience: 'prod-gcp:team:orders-api', url: 'https://orders-api.intern.nav.no/api/' } })

// Several origins: the token may go to each; relative inputs resolve against the first.
export const people = tokenX({
  audience: { audience: 'prod-gcp:pdl:pdl-api', url: ['https://pdl-api.intern.nav.no/', 'https://pdl-api.nav.no/'] },
})
