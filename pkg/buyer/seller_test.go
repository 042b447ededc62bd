package buyer

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/h402"
)

// Test fixtures: an EIP-3009 token on chain 84532.
const (
	testToken   = "0x3Ac5318126Ba9e9F9Dc9bA8e9781b3bF568D1f06"
	testToken2  = "0x1111111111111111111111111111111111111111"
	testPayTo   = "0x00000000000000000000000000000000000000aa"
	testName    = "USDC"
	testVersion = "2"
)

// offer is one requirement a test seller asks for.
type offer struct {
	network string // x402 network, or h402 "evm:<id>"
	token   string
	amount  int64
}

// testSeller answers 402 in one dialect until a payment comes, checks the
// payment as ingest would decode it (h402.DecodeRequest) and that its
// signature recovers the payer, and serves the resource with a payment
// response. refuse makes it answer every payment with 402.
type testSeller struct {
	t       *testing.T
	dialect Dialect
	offers  []offer
	refuse  bool
	// maxTimeout is the maxTimeoutSeconds (h402: estimatedProcessingTime)
	// offered; 0 means 60.
	maxTimeout int

	requests atomic.Int64
	mu       sync.Mutex
	paid     []*h402.Request
	bodies   []string
}

func (s *testSeller) start() *httptest.Server {
	srv := httptest.NewServer(s)
	s.t.Cleanup(srv.Close)
	return srv
}

func (s *testSeller) requirements() ([]any, []json.RawMessage) {
	var list []any
	var raws []json.RawMessage
	timeout := s.maxTimeout
	if timeout == 0 {
		timeout = 60
	}
	for _, o := range s.offers {
		amount := fmt.Sprint(o.amount)
		var r any
		switch s.dialect {
		case DialectH402:
			id := strings.TrimPrefix(o.network, "evm:")
			r = map[string]any{"namespace": "evm", "scheme": "exact", "networkId": id, "tokenAddress": strings.ToLower(o.token),
				"payToAddress": testPayTo, "amountRequired": amount, "amountRequiredFormat": "smallestUnit",
				"tokenDecimals": 6, "resource": "https://seller.example/report", "estimatedProcessingTime": timeout}
		case DialectX402V1:
			r = map[string]any{"scheme": "exact", "network": o.network, "maxAmountRequired": amount, "resource": "https://seller.example/report",
				"description": "a report", "mimeType": "application/json", "payTo": testPayTo, "maxTimeoutSeconds": timeout, "asset": o.token,
				"extra": map[string]string{"name": testName, "version": testVersion}}
		case DialectX402V2:
			r = map[string]any{"scheme": "exact", "network": o.network, "amount": amount, "asset": o.token, "payTo": testPayTo,
				"maxTimeoutSeconds": timeout, "extra": map[string]string{"name": testName, "version": testVersion}}
		}
		b, _ := json.Marshal(r)
		list = append(list, r)
		raws = append(raws, b)
	}
	return list, raws
}

func (s *testSeller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	body, _ := io.ReadAll(r.Body)
	accepts, raws := s.requirements()
	header := r.Header.Get(h402.HeaderPayment)
	if s.dialect == DialectX402V2 {
		header = r.Header.Get(h402.HeaderPaymentSig)
	}
	if header == "" || s.refuse {
		reason := "payment required"
		if header != "" {
			reason = "insufficient_funds"
		}
		s.answer402(w, accepts, reason)
		return
	}
	req, err := s.decode(header, raws)
	if err != nil {
		s.t.Errorf("seller: the payment does not decode as ingest decodes it: %v", err)
		s.answer402(w, accepts, "invalid_payload")
		return
	}
	s.mu.Lock()
	s.paid = append(s.paid, req)
	s.bodies = append(s.bodies, string(body))
	s.mu.Unlock()
	resp := map[string]any{"success": true, "transaction": "0xfeed", "payer": req.Payload.Payload.(*h402.EVMAuthorizationPayload).Authorization.From, "paymentId": "evm.84532.auth.1", "state": "accepted"}
	name := h402.HeaderPaymentResponse
	if s.dialect == DialectX402V2 {
		name = h402.HeaderPaymentResp2
		resp["network"] = req.Network
	} else if s.dialect == DialectH402 {
		resp["namespace"] = "evm"
	}
	b, _ := json.Marshal(resp)
	w.Header().Set(name, h402.EncodeBase64(b))
	fmt.Fprintf(w, "report for %s", body)
}

func (s *testSeller) answer402(w http.ResponseWriter, accepts []any, reason string) {
	var b []byte
	switch s.dialect {
	case DialectH402:
		b, _ = json.Marshal(map[string]any{"h402Version": 1, "error": reason, "accepts": accepts})
	case DialectX402V1:
		b, _ = json.Marshal(map[string]any{"x402Version": 1, "error": reason, "accepts": accepts})
	case DialectX402V2:
		h, _ := json.Marshal(map[string]any{"x402Version": 2, "error": reason, "accepts": accepts,
			"resource": map[string]string{"url": "https://seller.example/report", "description": "a report", "mimeType": "application/json"}})
		w.Header().Set(HeaderPaymentRequired, h402.EncodeBase64(h))
		b = []byte("{}")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusPaymentRequired)
	w.Write(b)
}

// decode builds the facilitator body the seller would post and decodes it
// as ingest does, then checks the EIP-3009 signature.
func (s *testSeller) decode(header string, raws []json.RawMessage) (*h402.Request, error) {
	var body []byte
	switch s.dialect {
	case DialectH402:
		var p h402.PaymentPayload
		b, err := h402.DecodeBase64(header)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, err
		}
		// The requirement paid is the one whose token the payment's domain names; find by trying each.
		for _, raw := range raws {
			body, _ = json.Marshal(map[string]any{"payload": header, "paymentRequirements": json.RawMessage(raw)})
			if req, err := h402.DecodeRequest(body, nil); err == nil {
				if err := checkSignature(req); err == nil {
					return req, nil
				}
			}
		}
		return nil, fmt.Errorf("no requirement matches the payment")
	default:
		b, err := h402.DecodeBase64(header)
		if err != nil {
			return nil, err
		}
		var head struct {
			Accepted json.RawMessage `json:"accepted"`
			Network  string          `json:"network"`
		}
		if err := json.Unmarshal(b, &head); err != nil {
			return nil, err
		}
		for _, raw := range raws {
			if s.dialect == DialectX402V2 && string(raw) != string(head.Accepted) {
				continue
			}
			version := 1
			if s.dialect == DialectX402V2 {
				version = 2
			}
			body, _ = json.Marshal(map[string]any{"x402Version": version, "paymentPayload": json.RawMessage(b), "paymentRequirements": json.RawMessage(raw)})
			if req, err := h402.DecodeRequest(body, nil); err == nil {
				if err := checkSignature(req); err == nil {
					return req, nil
				} else if s.dialect == DialectX402V2 {
					return nil, err
				}
			} else if s.dialect == DialectX402V2 {
				return nil, err
			}
		}
		return nil, fmt.Errorf("no requirement matches the payment (accepted %s)", head.Accepted)
	}
}

// checkSignature checks the EIP-3009 authorization pays the requirement and
// its signature recovers from.
func checkSignature(req *h402.Request) error {
	a := req.Payload.Payload.(*h402.EVMAuthorizationPayload)
	amount, err := req.Requirements.Amount(6)
	if err != nil {
		return err
	}
	value, _ := a.Authorization.Value.Uint()
	if value.Cmp(amount) != 0 {
		return fmt.Errorf("value %s, want %s", value, amount)
	}
	if !strings.EqualFold(a.Authorization.To, req.Requirements.PayToAddress) {
		return fmt.Errorf("to %s, want %s", a.Authorization.To, req.Requirements.PayToAddress)
	}
	chainID, _ := new(big.Int).SetString(req.Requirements.NetworkID, 10)
	sep := evm.Domain{Name: testName, Version: testVersion, ChainID: chainID, VerifyingContract: common.HexToAddress(req.Requirements.TokenAddress)}.Separator()
	after, _ := a.Authorization.ValidAfter.Uint()
	before, _ := a.Authorization.ValidBefore.Uint()
	auth := evm.Authorization{From: common.HexToAddress(a.Authorization.From), To: common.HexToAddress(a.Authorization.To), Value: value, ValidAfter: after, ValidBefore: before, Nonce: common.HexToHash(a.Authorization.Nonce)}
	digest := auth.Digest(sep)
	sig := common.FromHex(a.Signature)
	if len(sig) != 65 {
		return fmt.Errorf("signature length %d", len(sig))
	}
	sig[64] -= 27
	pub, err := crypto.SigToPub(digest[:], sig)
	if err != nil {
		return err
	}
	if crypto.PubkeyToAddress(*pub) != auth.From {
		return fmt.Errorf("signature recovers %s, not from %s", crypto.PubkeyToAddress(*pub).Hex(), auth.From.Hex())
	}
	return nil
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// usdc is a budget for testToken.
func usdc(perRequest, total int64) Budget {
	b := Budget{Token: testToken, MaxPerRequest: big.NewInt(perRequest)}
	if total > 0 {
		b.MaxTotal = big.NewInt(total)
	}
	return b
}

func newTransport(t *testing.T, key *ecdsa.PrivateKey, p Policy, hook func(*Payment)) *Transport {
	t.Helper()
	tr, err := New(Config{EVM: &EVM{Key: key, Domains: map[string]Domain{testToken: {testName, testVersion}, testToken2: {testName, testVersion}}}, Policy: p, OnPayment: hook})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
