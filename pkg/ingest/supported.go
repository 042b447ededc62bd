package ingest

import (
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// Kind is one entry of GET /supported: x402 style, plus the h402 names.
type Kind struct {
	X402Version int               `json:"x402Version"`
	Scheme      string            `json:"scheme"`
	Network     string            `json:"network"`
	Extra       map[string]string `json:"extra,omitempty"`
}

// H402Kind names a network the h402 way.
type H402Kind struct {
	H402Version int            `json:"h402Version"`
	Scheme      string         `json:"scheme"`
	Namespace   h402.Namespace `json:"namespace"`
	NetworkID   string         `json:"networkId"`
	Tokens      []string       `json:"tokens"`
}

// SupportedResponse answers GET /supported.
type SupportedResponse struct {
	Kinds      []Kind              `json:"kinds"`
	Extensions []string            `json:"extensions"`
	Signers    map[string][]string `json:"signers"`
	H402       []H402Kind          `json:"h402"`
}

// Supported lists the kinds this deployment serves: an x402 v2 kind per
// network (CAIP-2), an x402 v1 kind where the network has a v1 name, and the
// h402 kinds with their token allow-lists.
func Supported(networks config.Networks) SupportedResponse {
	out := SupportedResponse{Kinds: []Kind{}, Extensions: []string{}, Signers: map[string][]string{}, H402: []H402Kind{}}
	for _, n := range networks {
		var extra map[string]string
		if len(n.FeePayers) > 0 {
			extra = map[string]string{"feePayer": n.FeePayers[0]}
			out.Signers[n.CAIP2] = append([]string(nil), n.FeePayers...)
		}
		out.Kinds = append(out.Kinds, Kind{X402Version: 2, Scheme: h402.SchemeExact, Network: n.CAIP2, Extra: extra})
		if n.X402Name != "" {
			out.Kinds = append(out.Kinds, Kind{X402Version: 1, Scheme: h402.SchemeExact, Network: n.X402Name, Extra: extra})
		}
		k := H402Kind{H402Version: h402.Version, Scheme: h402.SchemeExact, Namespace: n.Namespace, NetworkID: n.NetworkID, Tokens: []string{}}
		for _, t := range n.Tokens {
			k.Tokens = append(k.Tokens, t.Address)
		}
		out.H402 = append(out.H402, k)
	}
	return out
}
