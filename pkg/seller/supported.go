package seller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/h402/settlement/pkg/h402"
)

// Supported is the facilitator's GET /supported, the parts a seller reads.
type Supported struct {
	Kinds []struct {
		X402Version int               `json:"x402Version"`
		Scheme      string            `json:"scheme"`
		Network     string            `json:"network"`
		Extra       map[string]string `json:"extra"`
	} `json:"kinds"`
	H402 []struct {
		Namespace h402.Namespace `json:"namespace"`
		NetworkID string         `json:"networkId"`
		Tokens    []string       `json:"tokens"`
	} `json:"h402"`
}

// DecodeSupported decodes GET /supported (200 only).
func DecodeSupported(status int, body []byte) (*Supported, error) {
	if status != http.StatusOK {
		return nil, &UnavailableError{Call: "supported", Status: status, Err: errors.New("unexpected answer")}
	}
	s := new(Supported)
	if err := decodeObject(body, s); err != nil {
		return nil, &UnavailableError{Call: "supported", Status: status, Err: errors.New("the answer is not a supported list")}
	}
	return s, nil
}

// Discover asks the facilitator at cfg.FacilitatorURL what it serves
// (GET /supported) and completes cfg before New: each Solana offer without
// a FeePayer gets the facilitator's fee payer for its CAIP-2 network (so
// x402 clients pay without SOL for fees). It returns an error naming every
// offer whose network or token the facilitator does not serve.
func Discover(ctx context.Context, cfg *Config) error {
	c := *cfg
	c.setDefaults()
	f := &facilitator{base: c.FacilitatorURL, apiKey: c.APIKey, client: c.Client, m: newMetrics(nil)}
	status, body, err := f.call(ctx, "supported", http.MethodGet, "/supported", nil, "")
	if err != nil {
		return err
	}
	sup, err := DecodeSupported(status, body)
	if err != nil {
		return err
	}
	var errs []error
	for i := range cfg.Routes {
		for j := range cfg.Routes[i].Offers {
			o := &cfg.Routes[i].Offers[j]
			field := fmt.Sprintf("routes[%d].offers[%d]", i, j)
			if !sup.serves(o) {
				errs = append(errs, fmt.Errorf("%s: the facilitator does not serve token %s on %s/%s", field, o.Token.Address, o.Namespace, o.NetworkID))
				continue
			}
			if o.Namespace == h402.NamespaceSolana && o.FeePayer == "" {
				caip2 := o.CAIP2
				if caip2 == "" {
					caip2 = h402.CAIP2(h402.NetworkRef{Namespace: o.Namespace, NetworkID: o.NetworkID})
				}
				for _, k := range sup.Kinds {
					if k.Network == caip2 && k.Network != "" && k.Extra["feePayer"] != "" {
						o.FeePayer = k.Extra["feePayer"]
						break
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (s *Supported) serves(o *Offer) bool {
	for _, k := range s.H402 {
		if k.Namespace != o.Namespace || k.NetworkID != o.NetworkID {
			continue
		}
		for _, t := range k.Tokens {
			if t == o.Token.Address || (o.Namespace == h402.NamespaceEVM && strings.EqualFold(t, o.Token.Address)) {
				return true
			}
		}
	}
	return false
}
