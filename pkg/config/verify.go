package config

import "time"

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes d as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Verify holds the verification policy.
type Verify struct {
	// MinValidBeforeMargin: an EVM authorization must stay valid at least this
	// long after verification, so that it can still settle. Default "6s".
	MinValidBeforeMargin Duration `yaml:"minValidBeforeMargin"`
	// MaxValidity: the longest an EVM authorization may stay valid from the
	// moment it is verified (validBefore - now; validAfter plays no part, as
	// x402 clients sign validAfter 0). Default "1h".
	MaxValidity Duration `yaml:"maxValidity"`
	// ClientBroadcastMaxAge: a client-broadcast payment (signAndSendTransaction,
	// both families) is accepted only if its transaction was mined or landed
	// at most this long before verification (EVM: the timestamp of the
	// receipt's block; Solana: the transaction's blockTime, or its slot
	// distance at 400 ms a slot when the node gives no blockTime). An old
	// transfer to the seller is never a new payment. Default "5m".
	ClientBroadcastMaxAge Duration `yaml:"clientBroadcastMaxAge"`
	// AllowOverpay accepts an authorization whose value exceeds the required
	// amount (the h402 reference's rule). Default false: value must equal.
	AllowOverpay bool `yaml:"allowOverpay"`
	// MaxComputeUnitPrice caps a Solana SetComputeUnitPrice, in micro-lamports per CU. Default 1000000 (1 lamport/CU).
	MaxComputeUnitPrice uint64 `yaml:"maxComputeUnitPrice"`
	// MaxComputeUnitLimit caps a Solana SetComputeUnitLimit. Default 200000.
	MaxComputeUnitLimit uint32 `yaml:"maxComputeUnitLimit"`
	// PayerBlockDuration: when a payment fails on chain by its payer's doing
	// (funds moved away, authorization used or canceled before settlement),
	// the payer (namespace, network, token, payer) is refused with
	// payer_blocked for this long, and the failed payment's reservation keeps
	// counting against its exposure until then. Default "24h"; "0s" disables.
	PayerBlockDuration *Duration `yaml:"payerBlockDuration"`
}

// PayerBlock is PayerBlockDuration with its default applied; 0 is disabled.
func (v Verify) PayerBlock() time.Duration {
	if v.PayerBlockDuration == nil {
		return 24 * time.Hour
	}
	return time.Duration(*v.PayerBlockDuration)
}

// DefaultVerify is the verification policy used when the config says nothing.
func DefaultVerify() Verify {
	return Verify{
		MinValidBeforeMargin:  Duration(6 * time.Second),
		MaxValidity:           Duration(time.Hour),
		ClientBroadcastMaxAge: Duration(5 * time.Minute),
		MaxComputeUnitPrice:   1_000_000,
		MaxComputeUnitLimit:   200_000,
	}
}
