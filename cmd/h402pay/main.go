// Command h402pay is the payer side of h402: from payment requirements (a
// 402 body or one requirement) and a key, it prints a signed X-PAYMENT header
// value, and can post it to a facilitator's /verify or /settle. Tests and
// load generators use the same signing packages; people use this to try a
// deployment.
//
// Keys come from a key file (-key-file) or the H402_PAYER_KEY environment
// variable, never from a flag: an EVM key as hex, a Solana key as base58 or
// a solana-keygen JSON array.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "h402pay:", err)
		os.Exit(1)
	}
}

type options struct {
	requirements string
	accept       int
	keyFile      string
	payloadType  string
	configPath   string
	rpcURL       string
	blockhash    string
	nonce        int64
	validFor     time.Duration
	cuPrice      uint64
	token2022    bool
	post         string
	txSignature  string
	wait         time.Duration
	follow       time.Duration
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, getenv func(string) string) error {
	var o options
	fs := flag.NewFlagSet("h402pay", flag.ContinueOnError)
	fs.StringVar(&o.requirements, "requirements", "-", "file with a 402 body or one PaymentRequirements (JSON); - reads stdin")
	fs.IntVar(&o.accept, "accept", 0, "which entry of a 402 body's accepts to pay")
	fs.StringVar(&o.keyFile, "key-file", "", "payer key file (else $H402_PAYER_KEY)")
	fs.StringVar(&o.payloadType, "type", "", "payload type: authorization (EVM default), signedTransaction, signTransaction (Solana default), signAndSendTransaction (Solana: send it yourself, then bind it)")
	fs.StringVar(&o.txSignature, "tx-signature", "", "Solana signAndSendTransaction: bind this already-sent transaction instead of sending one (-rpc)")
	fs.DurationVar(&o.wait, "wait", time.Minute, "Solana signAndSendTransaction: how long to wait for the sent transaction to be confirmed")
	fs.StringVar(&o.configPath, "config", "", "facilitator config to read the token's decimals, kind and EIP-712 domain from")
	fs.StringVar(&o.rpcURL, "rpc", "", "chain RPC: EVM head time and nonce, or a Solana blockhash")
	fs.StringVar(&o.blockhash, "blockhash", "", "Solana recent blockhash (instead of -rpc)")
	fs.Int64Var(&o.nonce, "nonce", -1, "EVM account nonce for signedTransaction (instead of -rpc)")
	fs.DurationVar(&o.validFor, "valid-for", 0, "EIP-3009 authorization lifetime (default: estimatedProcessingTime or 30s)")
	fs.Uint64Var(&o.cuPrice, "cu-price", 1, "Solana compute unit price, micro-lamports")
	fs.BoolVar(&o.token2022, "token2022", false, "the Solana mint is a Token-2022 mint (without -config)")
	fs.StringVar(&o.post, "post", "", "facilitator URL ending in /verify or /settle: post the payment and print the answer")
	fs.DurationVar(&o.follow, "follow", 0, "with -post .../settle: follow the payment (GET /payments/{id}) and print each state until it is final or failed, at most this long")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		fs.SetOutput(os.Stderr)
		fs.PrintDefaults()
		return err
	}
	req, err := readRequirements(o.requirements, o.accept, stdin)
	if err != nil {
		return err
	}
	token, err := tokenFor(req, o)
	if err != nil {
		return err
	}
	rawKey, err := readKey(o.keyFile, getenv)
	if err != nil {
		return err
	}
	var header string
	switch req.Namespace {
	case h402.NamespaceEVM:
		header, err = payEVM(ctx, req, token, rawKey, o)
	case h402.NamespaceSolana:
		header, err = paySolana(ctx, req, token, rawKey, o)
	default:
		return fmt.Errorf("namespace %q is not evm or solana", req.Namespace)
	}
	if err != nil {
		return err
	}
	if o.post == "" {
		_, err = fmt.Fprintln(stdout, header)
		return err
	}
	id, err := post(ctx, o.post, header, req, stdout, getenv)
	if err != nil || o.follow <= 0 || id == "" {
		return err
	}
	return follow(ctx, strings.TrimSuffix(strings.TrimSuffix(o.post, "/settle"), "/verify")+"/payments/"+id, o.follow, stdout, getenv)
}

// follow polls a payment's status URL and prints each new state (with its
// transaction, block and finality time) until a terminal state or timeout.
func follow(ctx context.Context, url string, limit time.Duration, stdout io.Writer, getenv func(string) string) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	last := ""
	for {
		var st struct {
			State       string `json:"state"`
			TxHash      string `json:"txHash"`
			Block       uint64 `json:"block"`
			FinalizedAt string `json:"finalizedAt"`
			Reason      string `json:"reason"`
			Message     string `json:"message"`
		}
		hr, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if k := getenv("H402_API_KEY"); k != "" {
			hr.Header.Set("X-API-Key", k)
		}
		resp, err := http.DefaultClient.Do(hr)
		if err == nil {
			err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st)
			resp.Body.Close()
		}
		if err == nil && st.State != "" && st.State != last {
			last = st.State
			line := "state " + st.State
			if st.TxHash != "" {
				line += " tx " + st.TxHash
			}
			if st.Block != 0 {
				line += fmt.Sprintf(" block %d", st.Block)
			}
			if st.FinalizedAt != "" {
				line += " final at " + st.FinalizedAt
			}
			if st.Reason != "" {
				line += " reason " + st.Reason + ": " + st.Message
			}
			fmt.Fprintln(stdout, line)
			switch st.State {
			case "finalized":
				return nil
			case "failed":
				return fmt.Errorf("payment failed: %s", st.Reason)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("payment still %q after %s", last, limit)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func readRequirements(path string, accept int, stdin io.Reader) (*h402.PaymentRequirements, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read requirements: %w", err)
	}
	var body struct {
		Accepts []h402.PaymentRequirements `json:"accepts"`
	}
	if err := json.Unmarshal(b, &body); err == nil && len(body.Accepts) > 0 {
		if accept < 0 || accept >= len(body.Accepts) {
			return nil, fmt.Errorf("-accept %d: the 402 body has %d requirements", accept, len(body.Accepts))
		}
		return &body.Accepts[accept], nil
	}
	req := new(h402.PaymentRequirements)
	if err := json.Unmarshal(b, req); err != nil {
		return nil, fmt.Errorf("requirements are neither a 402 body nor PaymentRequirements: %w", err)
	}
	if req.Namespace == "" {
		return nil, errors.New("requirements have no namespace")
	}
	return req, nil
}

// tokenFor finds the token in the config, or describes it from the requirement.
func tokenFor(req *h402.PaymentRequirements, o options) (*config.Token, error) {
	if o.configPath != "" {
		c, err := config.Load(o.configPath)
		if err != nil {
			return nil, err
		}
		n, err := c.Networks.Lookup(req.Namespace, req.NetworkID)
		if err != nil {
			return nil, err
		}
		return n.Token(req.TokenAddress)
	}
	t := &config.Token{Address: req.TokenAddress, Symbol: req.TokenSymbol}
	if req.TokenDecimals != nil {
		t.Decimals = *req.TokenDecimals
	} else if req.AmountRequiredFormat != h402.FormatSmallestUnit {
		return nil, errors.New("the requirement gives no tokenDecimals for a humanReadable amount: pass -config")
	}
	switch {
	case req.Namespace == h402.NamespaceEVM && req.TokenAddress == h402.EVMNativeToken:
		t.Kind, t.Decimals = config.KindNative, 18
	case req.Namespace == h402.NamespaceEVM:
		t.Kind = config.KindEIP3009
		if o.payloadType == string(h402.TypeSignedTransaction) {
			t.Kind = config.KindERC20
		}
	case req.TokenAddress == h402.SolanaNativeToken:
		t.Kind, t.Decimals = config.KindNative, 9
	case o.token2022:
		t.Kind = config.KindToken2022
	default:
		t.Kind = config.KindSPL
	}
	return t, nil
}

func readKey(path string, getenv func(string) string) (string, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read key file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if k := strings.TrimSpace(getenv("H402_PAYER_KEY")); k != "" {
		return k, nil
	}
	return "", errors.New("no payer key: pass -key-file or set H402_PAYER_KEY")
}

func payEVM(ctx context.Context, req *h402.PaymentRequirements, token *config.Token, raw string, o options) (string, error) {
	key, err := crypto.HexToECDSA(strings.TrimPrefix(raw, "0x"))
	if err != nil {
		return "", errors.New("the payer key is not a hex secp256k1 private key") // never echo the key
	}
	var client *ethclient.Client
	if o.rpcURL != "" {
		if client, err = ethclient.DialContext(ctx, o.rpcURL); err != nil {
			return "", fmt.Errorf("dial %s: %w", o.rpcURL, err)
		}
		defer client.Close()
	}
	switch h402.PayloadType(o.payloadType) {
	case "", h402.TypeAuthorization:
		now := time.Now()
		if client != nil { // dev chains run ahead of the wall clock: use the head's time
			head, err := client.HeaderByNumber(ctx, nil)
			if err != nil {
				return "", fmt.Errorf("read chain head: %w", err)
			}
			if t := time.Unix(int64(head.Time), 0); t.After(now) {
				now = t
			}
		}
		opts := evm.AuthorizationOptions{}
		if o.validFor > 0 {
			opts.ValidAfter, opts.ValidBefore = now.Add(-evm.DefaultSkew), now.Add(o.validFor)
		}
		_, header, err := evm.SignAuthorization(req, key, token, now, opts)
		return header, err
	case h402.TypeSignedTransaction:
		opts := evm.TxOptions{}
		switch {
		case o.nonce >= 0:
			opts.Nonce = uint64(o.nonce)
		case client != nil:
			if opts.Nonce, err = client.PendingNonceAt(ctx, crypto.PubkeyToAddress(key.PublicKey)); err != nil {
				return "", fmt.Errorf("read nonce: %w", err)
			}
		default:
			return "", errors.New("signedTransaction needs -nonce or -rpc")
		}
		if client != nil {
			if tip, err := client.SuggestGasTipCap(ctx); err == nil && tip.Cmp(evm.DefaultGasTipCap) > 0 {
				opts.GasTipCap = tip
			}
			if head, err := client.HeaderByNumber(ctx, nil); err == nil && head.BaseFee != nil {
				tip := opts.GasTipCap
				if tip == nil {
					tip = evm.DefaultGasTipCap
				}
				opts.GasFeeCap = new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
			}
		}
		_, header, err := evm.SignTransaction(req, key, token, opts)
		return header, err
	default:
		return "", fmt.Errorf("-type %q: an EVM client signs authorization or signedTransaction", o.payloadType)
	}
}

func paySolana(ctx context.Context, req *h402.PaymentRequirements, token *config.Token, raw string, o options) (string, error) {
	key, err := solanaKey(raw)
	if err != nil {
		return "", err
	}
	switch h402.PayloadType(o.payloadType) {
	case "", h402.TypeSignTransaction:
	case h402.TypeSignAndSendTransaction:
		return sendSolana(ctx, req, token, key, o)
	default:
		return "", fmt.Errorf("-type %q: a Solana client signs signTransaction or signAndSendTransaction", o.payloadType)
	}
	var bh solanago.Hash
	switch {
	case o.blockhash != "":
		if bh, err = solanago.HashFromBase58(o.blockhash); err != nil {
			return "", fmt.Errorf("-blockhash: %w", err)
		}
	case o.rpcURL != "":
		out, err := rpc.New(o.rpcURL).GetLatestBlockhash(ctx, rpc.CommitmentConfirmed)
		if err != nil {
			return "", fmt.Errorf("read latest blockhash: %w", err)
		}
		bh = out.Value.Blockhash
	default:
		return "", errors.New("a Solana payment needs -blockhash or -rpc")
	}
	return solana.PaymentHeader(req, token, key, bh, solana.PayOptions{ComputeUnitPrice: o.cuPrice})
}

// sendSolana makes a client-broadcast payment: it sends the payment
// transaction itself (unless -tx-signature names one already sent), waits
// until it is confirmed, and returns the signAndSendTransaction header bound
// to the requirement's resource by the payer's signedMessage.
func sendSolana(ctx context.Context, req *h402.PaymentRequirements, token *config.Token, key solanago.PrivateKey, o options) (string, error) {
	var sig solanago.Signature
	if o.txSignature != "" {
		var err error
		if sig, err = solanago.SignatureFromBase58(o.txSignature); err != nil {
			return "", fmt.Errorf("-tx-signature: %w", err)
		}
	} else {
		if o.rpcURL == "" {
			return "", errors.New("signAndSendTransaction needs -rpc to send the payment (or -tx-signature)")
		}
		client := rpc.New(o.rpcURL)
		out, err := client.GetLatestBlockhash(ctx, rpc.CommitmentConfirmed)
		if err != nil {
			return "", fmt.Errorf("read latest blockhash: %w", err)
		}
		p, err := solana.SignPayment(req, token, key, out.Value.Blockhash, solana.PayOptions{ComputeUnitPrice: o.cuPrice})
		if err != nil {
			return "", err
		}
		tx, err := solanago.TransactionFromBase64(p.Payload.(*h402.SolanaSignTransactionPayload).Transaction)
		if err != nil {
			return "", err
		}
		if sig, err = client.SendTransaction(ctx, tx); err != nil {
			return "", fmt.Errorf("send payment: %w", err)
		}
		if err := waitConfirmed(ctx, client, sig, o.wait); err != nil {
			return "", err
		}
	}
	p, err := solana.SignAndSendPayment(req, key, sig)
	if err != nil {
		return "", err
	}
	return h402.EncodePaymentHeader(p)
}

// waitConfirmed polls the transaction's status until it is confirmed,
// failed, or the wait runs out.
func waitConfirmed(ctx context.Context, client *rpc.Client, sig solanago.Signature, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := client.GetSignatureStatuses(ctx, false, sig)
		if err == nil && len(out.Value) == 1 && out.Value[0] != nil {
			st := out.Value[0]
			if st.Err != nil {
				return fmt.Errorf("payment %s failed on chain: %v", sig, st.Err)
			}
			if st.ConfirmationStatus == rpc.ConfirmationStatusConfirmed || st.ConfirmationStatus == rpc.ConfirmationStatusFinalized {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("payment %s not confirmed within %s (last error: %v)", sig, wait, err)
		case <-tick.C:
		}
	}
}

func solanaKey(raw string) (solanago.PrivateKey, error) {
	if strings.HasPrefix(raw, "[") {
		var b []byte
		var ints []int
		if err := json.Unmarshal([]byte(raw), &ints); err != nil || len(ints) != 64 {
			return nil, errors.New("the payer key is not a 64-byte solana-keygen JSON array")
		}
		for _, v := range ints {
			b = append(b, byte(v))
		}
		return solanago.PrivateKey(b), nil
	}
	k, err := solanago.PrivateKeyFromBase58(raw)
	if err != nil || len(k) != 64 {
		return nil, errors.New("the payer key is not a base58 ed25519 secret key")
	}
	return k, nil
}

// post sends the payment and returns the payment id the answer names.
func post(ctx context.Context, url, header string, req *h402.PaymentRequirements, stdout io.Writer, getenv func(string) string) (string, error) {
	body, err := json.Marshal(h402.RequestBody{Payload: header, PaymentRequirements: *req})
	if err != nil {
		return "", err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	hr.Header.Set("Content-Type", "application/json")
	if k := getenv("H402_API_KEY"); k != "" {
		hr.Header.Set("X-API-Key", k)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return "", fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	fmt.Fprintf(stdout, "%s %s\n", resp.Status, bytes.TrimSpace(answer))
	if resp.StatusCode >= 300 {
		return "", fmt.Errorf("facilitator answered %s", resp.Status)
	}
	var a struct {
		PaymentID string `json:"paymentId"`
	}
	_ = json.Unmarshal(answer, &a)
	return a.PaymentID, nil
}
