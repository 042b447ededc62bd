package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Dialects of the facilitator API.
const (
	dialectH402 = "h402"
	dialectX402 = "x402"
)

// reasonAlreadyUsed is what /verify answers for a payment whose replay key
// is taken (PROTOCOL.md §4 "Replays and idempotency").
const reasonAlreadyUsed = "payment_already_used"

// payment is one payment to push through the pipeline.
type payment struct {
	dialect string
	// body is the exact JSON a resource server POSTs to /verify and /settle.
	body []byte
	// id is the payment id (PROTOCOL.md §6) when the test knows it; h402
	// answers carry it too.
	id string
	// viaNode, for x402 payments, makes the first /supported, /verify and
	// /settle through the published facilitator client of that package
	// ("x402" or "@x402/core"), so the real client parses our answers.
	viaNode string
	// network is the x402 network the answers must name.
	network string
	// landed waits until the payment is on chain and checks it landed once;
	// tx is the transaction hash ingest reports.
	landed func(t *testing.T, tx string)
	// headers (name, value pairs) go with every identical request, e.g. an
	// Idempotency-Key naming the seller's request.
	headers []string
	// replays, when set, runs more replay checks before and after landing.
	replays func(t *testing.T)
}

// settled is the first /settle answer, which every repeat must match.
type settled struct {
	success   bool
	paymentID string
	payer     string
	network   string
}

// run pushes pay through ingest, checks replays before it lands, starts
// the settler, waits for the chain, checks replays again, and stops the
// settler (so the next payment is again seen before it lands).
func (p *pipeline) run(t *testing.T, pay payment) {
	t.Helper()
	first := p.firstVerifyAndSettle(t, pay)
	id := pay.id
	if id == "" {
		id = first.paymentID
	}
	if id == "" {
		t.Fatalf("no payment id: the settle answer carries none and the test cannot compute it")
	}
	if first.paymentID != "" && pay.id != "" && first.paymentID != pay.id {
		t.Errorf("settle answer paymentId: got %q, want the replay key %q", first.paymentID, pay.id)
	}

	t.Run("replays before landing", func(t *testing.T) {
		p.verifyRefused(t, pay)
		p.settleRepeats(t, pay, first, "", pay.headers...)
		if pay.replays != nil {
			pay.replays(t)
		}
	})

	p.startSettler(t)
	st := p.waitSubmitted(t, id)
	pay.landed(t, st.TxHash)
	p.stopSettler(t)

	t.Run("replays after landing", func(t *testing.T) {
		p.verifyRefused(t, pay)
		p.settleRepeats(t, pay, first, st.TxHash, pay.headers...)
		if pay.replays != nil {
			pay.replays(t)
		}
		if pay.viaNode != "" {
			// The published client parses the refusal without error.
			out := nodeFacilitator(t, pay.viaNode, p.url, pay.body, "verify")
			v, _ := out["verify"].(map[string]any)
			if v["isValid"] != false || v["invalidReason"] != reasonAlreadyUsed {
				t.Errorf("%s facilitator client, verify after landing: got %v, want isValid false, invalidReason %s", pay.viaNode, out["verify"], reasonAlreadyUsed)
			}
		}
	})
}

// firstVerifyAndSettle verifies (valid) and settles (success) the payment.
func (p *pipeline) firstVerifyAndSettle(t *testing.T, pay payment) settled {
	t.Helper()
	if pay.viaNode != "" {
		out := nodeFacilitator(t, pay.viaNode, p.url, pay.body, "supported", "verify", "settle")
		if sup, _ := out["supported"].(map[string]any); !supports(sup, pay.network) {
			t.Errorf("%s facilitator client, /supported: network %s not listed: %v", pay.viaNode, pay.network, out["supported"])
		}
		v, _ := out["verify"].(map[string]any)
		if v["isValid"] != true {
			t.Fatalf("%s facilitator client, /verify: got %v, want isValid true", pay.viaNode, out["verify"])
		}
		s, _ := out["settle"].(map[string]any)
		if s["success"] != true {
			t.Fatalf("%s facilitator client, /settle: got %v, want success true", pay.viaNode, out["settle"])
		}
		if s["network"] != pay.network {
			t.Errorf("settle answer network: got %v, want %s", s["network"], pay.network)
		}
		first := settled{success: true}
		first.payer, _ = s["payer"].(string)
		first.network, _ = s["network"].(string)
		first.paymentID, _ = s["paymentId"].(string)
		return first
	}
	v := p.post(t, "/verify", pay.body, pay.headers...)
	if v.Status != http.StatusOK || v.Body["isValid"] != true {
		t.Fatalf("/verify: got %s, want 200 isValid true", v)
	}
	s := p.post(t, "/settle", pay.body, pay.headers...)
	if s.Status != http.StatusOK || s.Body["success"] != true {
		t.Fatalf("/settle: got %s, want 200 success true", s)
	}
	return settled{success: true, paymentID: s.str("paymentId"), payer: s.str("payer"), network: s.str("network")}
}

// verifyRefused checks that /verify of a used payment answers
// payment_already_used: x402 200 {isValid:false}, h402 400 {error}.
func (p *pipeline) verifyRefused(t *testing.T, pay payment) {
	t.Helper()
	a := p.post(t, "/verify", pay.body)
	ok := a.Body["isValid"] == false && a.str("invalidReason") == reasonAlreadyUsed
	want := fmt.Sprintf("200 isValid false, invalidReason %s", reasonAlreadyUsed)
	switch pay.dialect {
	case dialectX402:
		ok = ok && a.Status == http.StatusOK
	case dialectH402:
		ok = ok && a.Status == http.StatusBadRequest && a.str("error") != ""
		want = fmt.Sprintf("400 isValid false, invalidReason %s, error", reasonAlreadyUsed)
	}
	if !ok {
		t.Errorf("/verify of a used payment (%s): got %s, want %s", pay.dialect, a, want)
	}
}

// settleRepeats checks that /settle of the identical request repeats the
// first answer: success, the same payment id, payer and network, and the
// transaction once known (tx, when not empty).
func (p *pipeline) settleRepeats(t *testing.T, pay payment, first settled, tx string, headers ...string) {
	t.Helper()
	a := p.post(t, "/settle", pay.body, headers...)
	if a.Status != http.StatusOK || a.Body["success"] != true {
		t.Errorf("/settle repeated: got %s, want 200 success true as the first answer", a)
		return
	}
	if first.paymentID != "" && a.str("paymentId") != first.paymentID {
		t.Errorf("/settle repeated: paymentId %q, want the first answer's %q", a.str("paymentId"), first.paymentID)
	}
	if first.payer != "" && !strings.EqualFold(a.str("payer"), first.payer) {
		t.Errorf("/settle repeated: payer %q, want %q", a.str("payer"), first.payer)
	}
	if first.network != "" && a.str("network") != first.network {
		t.Errorf("/settle repeated: network %q, want %q", a.str("network"), first.network)
	}
	if got := a.str("transaction"); got != "" && tx != "" && !strings.EqualFold(got, tx) {
		t.Errorf("/settle repeated: transaction %q, want the settled %q", got, tx)
	}
}

// settleRefused checks that /settle of body, a used payment under another
// seller request, answers payment_already_used (x402: 200 success false;
// h402: 400) and names the payment, so an honest seller can look it up.
func (p *pipeline) settleRefused(t *testing.T, dialect string, body []byte, id string, headers ...string) {
	t.Helper()
	a := p.post(t, "/settle", body, headers...)
	if a.Body["success"] != false || a.str("errorReason") != reasonAlreadyUsed {
		t.Errorf("/settle of a used payment under another request: got %s, want success false, errorReason %s", a, reasonAlreadyUsed)
	}
	want := http.StatusOK
	if dialect == dialectH402 {
		want = http.StatusBadRequest
		if a.str("paymentId") != id {
			t.Errorf("/settle of a used payment under another request: paymentId %q, want %q", a.str("paymentId"), id)
		}
	}
	if a.Status != want {
		t.Errorf("/settle of a used payment under another request: status %d, want %d", a.Status, want)
	}
}

func supports(sup map[string]any, network string) bool {
	kinds, _ := sup["kinds"].([]any)
	for _, k := range kinds {
		if m, _ := k.(map[string]any); m["network"] == network && m["scheme"] == "exact" {
			return true
		}
	}
	return false
}

// node runs x402js/pay.mjs with job on stdin and decodes its JSON answer.
func node(t *testing.T, job any) map[string]any {
	t.Helper()
	in, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "pay.mjs")
	cmd.Dir = x402jsDir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node pay.mjs: %v\njob: %s\n%s", err, in, stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("node pay.mjs printed no JSON object: %v: %s", err, stdout.String())
	}
	return out
}

// nodePay makes a payment with a published client and returns the
// /verify and /settle body and its paymentPayload.
func nodePay(t *testing.T, job map[string]any) ([]byte, map[string]any) {
	t.Helper()
	job["mode"] = "pay"
	out := node(t, job)
	body, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	pp, _ := out["paymentPayload"].(map[string]any)
	if pp == nil {
		t.Fatalf("client made no paymentPayload: %s", body)
	}
	return body, pp
}

// nodeFacilitator calls ingest through a published facilitator client.
func nodeFacilitator(t *testing.T, client, url string, body []byte, calls ...string) map[string]any {
	t.Helper()
	return node(t, map[string]any{"mode": "facilitator", "client": client, "url": url, "calls": calls, "body": json.RawMessage(body)})
}
