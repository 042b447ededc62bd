// Package statuspage serves an HTML overview of a ledger (pkg/ledger): its
// payments by state and network, the throughput of the last minutes, the
// sellers' totals, the most recent receipts with links to their JSON in the
// ledger API, and the gas the final transactions cost. The watcher mounts
// it on its admin listener (GET /status, and / redirects to it).
//
// The page is rendered on the server with html/template (every string from
// the event log is escaped), with inline CSS and inline SVG bars: no
// script, no CDN, no web font, so it works offline and in any browser. It
// reads ledger.Status, which costs a bounded number of key reads whatever
// the size of the ledger.
package statuspage
