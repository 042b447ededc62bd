package config

import "strings"

// ShippedConfigEnv stands in for the environment a deployment provides,
// for tests that load the files in configs/: the variables those files
// require without a default (RPC providers `*_RPC_URL`, the NATS user
// `H402_NATS_USER` and passwords `*PASSWORD`) get placeholder values; every
// other variable is unset, so its documented default applies.
func ShippedConfigEnv(k string) (string, bool) {
	switch {
	case strings.HasSuffix(k, "_RPC_URL"):
		return "https://rpc.example/" + k, true
	case k == "H402_NATS_USER":
		return "h402-ingest", true
	case strings.HasSuffix(k, "PASSWORD"):
		return "x", true
	}
	return "", false
}
