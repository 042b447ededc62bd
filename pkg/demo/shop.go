package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/h402/settlement/pkg/buyer"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/seller"
	"github.com/h402/settlement/pkg/webhooks"
)

// maxHookBody bounds a webhook delivery's body.
const maxHookBody = 1 << 20

// newShop returns the demo seller's handler: the paid routes behind
// pkg/seller, and POST /webhooks when a secret is configured.
func newShop(ctx context.Context, cfg *Config, tr *tracker) (http.Handler, error) {
	var routes []seller.Route
	var evmOffer, solOffer *seller.Offer
	needEVM, needSol := false, false
	for _, k := range cfg.Kinds {
		needEVM = needEVM || !k.solana()
		needSol = needSol || k.solana()
	}
	if needEVM {
		n, tok, err := evmNetwork(cfg.Networks)
		if err != nil {
			return nil, err
		}
		evmOffer = &seller.Offer{
			Namespace: h402.NamespaceEVM, NetworkID: n.NetworkID, X402Network: n.X402Name, CAIP2: n.CAIP2,
			Token: seller.Token{Address: tok.Address, Decimals: tok.Decimals, Symbol: tok.Symbol, EIP712Name: tok.EIP712Name, EIP712Version: tok.EIP712Version},
			PayTo: cfg.EVMPayTo, Price: cfg.Price, MaxTimeoutSeconds: 300,
		}
		routes = append(routes, seller.Route{Pattern: "GET /evm/report/*", Description: "a demo report (EVM)", MimeType: "application/json", Offers: []seller.Offer{*evmOffer}})
	}
	if needSol {
		n, tok, err := solanaNetwork(cfg.Networks)
		if err != nil {
			return nil, err
		}
		solOffer = &seller.Offer{
			Namespace: h402.NamespaceSolana, NetworkID: n.NetworkID, X402Network: n.X402Name, CAIP2: n.CAIP2,
			Token: seller.Token{Address: tok.Address, Decimals: tok.Decimals, Symbol: tok.Symbol},
			PayTo: cfg.SolanaPayTo, Price: cfg.Price, MaxTimeoutSeconds: 60,
		}
		// The buyer pays the fee: an offer without a fee payer (h402 only).
		routes = append(routes, seller.Route{Pattern: "GET /solana/quote-client-fee/*", Description: "a demo quote (Solana, buyer pays the fee)", MimeType: "application/json", Offers: []seller.Offer{*solOffer}})
		// The facilitator's fee payer, as its GET /supported names it.
		withFee := seller.Config{FacilitatorURL: cfg.Facilitator, Routes: []seller.Route{{Pattern: "GET /solana/quote/*", Description: "a demo quote (Solana, facilitator fee payer)", MimeType: "application/json", Offers: []seller.Offer{*solOffer}}}}
		if err := seller.Discover(ctx, &withFee); err != nil {
			return nil, fmt.Errorf("demo: the facilitator's Solana fee payer: %w", err)
		}
		routes = append(routes, withFee.Routes...)
	}
	mw, err := seller.New(seller.Config{FacilitatorURL: cfg.Facilitator, Routes: routes, Mode: seller.ModeAccepted})
	if err != nil {
		return nil, fmt.Errorf("demo: seller: %w", err)
	}
	content := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pay, ok := seller.PaymentFrom(r.Context())
		if !ok {
			http.Error(w, "reached without a payment", http.StatusInternalServerError)
			return
		}
		tr.served()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"content": "demo content for " + r.URL.Path, "network": string(pay.Network.Namespace) + ":" + pay.Network.NetworkID,
			"payer": pay.Payer, "paymentId": pay.ID,
		})
	})
	mux := http.NewServeMux()
	mux.Handle("/", mw.Wrap(content))
	if cfg.WebhookSecret != "" {
		sec, err := webhooks.ParseSecret(cfg.WebhookSecret)
		if err != nil {
			return nil, fmt.Errorf("demo: webhook secret: %w", err)
		}
		mux.Handle("POST /webhooks", receiver([]webhooks.Secret{sec}, tr))
	}
	return mux, nil
}

// receiver verifies Standard Webhooks deliveries and counts them by webhook-id.
func receiver(secrets []webhooks.Secret, tr *tracker) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxHookBody+1))
		if err != nil || len(body) > maxHookBody {
			http.Error(w, "body unreadable or too large", http.StatusBadRequest)
			return
		}
		id := r.Header.Get("webhook-id")
		if _, err := webhooks.Verify(secrets, id, r.Header.Get("webhook-timestamp"), body, r.Header.Get("webhook-signature"), time.Now(), 5*time.Minute); err != nil {
			tr.hookRejected()
			http.Error(w, "signature: "+err.Error(), http.StatusUnauthorized)
			return
		}
		var hook struct {
			Type string `json:"type"`
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &hook); err != nil || hook.Data.ID != id {
			http.Error(w, "body is not a receipt webhook for its webhook-id", http.StatusBadRequest)
			return
		}
		tr.hook(id)
		w.WriteHeader(http.StatusNoContent)
	})
}

type h402Only struct{}

// dialectTransport shows the seller's 402 to requests marked h402Only as
// an h402-only client sees it: without the x402 v2 PAYMENT-REQUIRED header
// and without the body's x402 v1 marker.
type dialectTransport struct{ base http.RoundTripper }

func (d dialectTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusPaymentRequired || req.Context().Value(h402Only{}) == nil {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, buyer.MaxPaymentRequiredBytes))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) == nil {
		delete(doc, "x402Version")
		if b, err := json.Marshal(doc); err == nil {
			body = b
		}
	}
	resp.Header.Del(h402.HeaderPaymentRequired)
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.ContentLength = int64(len(body))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// pay has the buyer pay cfg.Payments requests to the seller at base.
func pay(ctx context.Context, cfg *Config, tr *tracker, base string) error {
	price, err := priceUnits(cfg)
	if err != nil {
		return err
	}
	bc := buyer.Config{Base: dialectTransport{base: http.DefaultTransport}}
	for _, k := range cfg.Kinds {
		if k.solana() && bc.Solana == nil {
			n, tok, err := solanaNetwork(cfg.Networks)
			if err != nil {
				return err
			}
			// The demo seller is a fresh dev wallet without a token
			// account: the first payment creates it (its rent paid by the
			// dev buyer; see buyer.Solana.FundSellerAccount).
			bc.Solana = &buyer.Solana{Key: cfg.SolanaKey, RPC: n.RPC[0], FundSellerAccount: true}
			bc.Policy.Budgets = append(bc.Policy.Budgets, budget(tok.Address, price[tok.Address], cfg.Payments))
		}
		if !k.solana() && bc.EVM == nil {
			n, tok, err := evmNetwork(cfg.Networks)
			if err != nil {
				return err
			}
			bc.EVM = &buyer.EVM{Key: cfg.EVMKey, RPC: n.RPC[0]}
			bc.Policy.Budgets = append(bc.Policy.Budgets, budget(tok.Address, price[tok.Address], cfg.Payments))
		}
	}
	t, err := buyer.New(bc)
	if err != nil {
		return fmt.Errorf("demo: buyer: %w", err)
	}
	defer t.Close()
	client := &http.Client{Transport: t, Timeout: 2 * time.Minute}

	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				k := cfg.Kinds[i%len(cfg.Kinds)]
				tr.add(request(ctx, client, base, k, i))
			}
		}()
	}
	for i := 0; i < cfg.Payments && ctx.Err() == nil; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	return ctx.Err()
}

// request buys one resource of kind k.
func request(ctx context.Context, client *http.Client, base string, k Kind, i int) Result {
	res := Result{Kind: k, Path: k.path(i)}
	rctx := ctx
	if k.h402() {
		rctx = context.WithValue(ctx, h402Only{}, true)
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, base+res.Path, nil)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	resp, err := client.Do(req)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	res.Status, res.Bytes = resp.StatusCode, len(body)
	res.Served = err == nil && resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"content"`))
	if p := buyer.PaymentOf(resp); p != nil {
		res.Payer = p.Payer
		if p.Settlement != nil {
			res.PaymentID = p.Settlement.PaymentID
		}
		if p.Err != nil {
			res.Error = p.Err.Error()
		}
	}
	if !res.Served && res.Error == "" {
		res.Error = fmt.Sprintf("status %d: %.200s", resp.StatusCode, body)
	}
	return res
}

// priceUnits is cfg.Price in each sold token's smallest units.
func priceUnits(cfg *Config) (map[string]*big.Int, error) {
	out := map[string]*big.Int{}
	for _, pick := range []func(config.Networks) (*config.Network, *config.Token, error){evmNetwork, solanaNetwork} {
		_, tok, err := pick(cfg.Networks)
		if err != nil {
			continue
		}
		v, err := h402.Decimal{Text: cfg.Price}.Units(h402.FormatHumanReadable, tok.Decimals)
		if err != nil {
			return nil, fmt.Errorf("demo: price %q in %d decimals: %w", cfg.Price, tok.Decimals, err)
		}
		out[tok.Address] = v
	}
	return out, nil
}
