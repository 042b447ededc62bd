package evm

import (
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

func TestVerifyRejects(t *testing.T) {
	f := newFixture(t)
	usdc := common.HexToAddress(usdcAddress)
	plain := common.HexToAddress(plainAddress)
	stranger := crypto.PubkeyToAddress(mustKey(t).PublicKey)
	chain := big.NewInt(testChainID)

	// auth signs a valid authorization and lets mutate change it afterwards.
	auth := func(opts AuthorizationOptions, mutate func(a *h402.EVMAuthorizationPayload)) func(t *testing.T) *chains.Request {
		return func(t *testing.T) *chains.Request {
			req := f.requirements(f.usdc)
			p := f.authorization(t, f.payer, req, f.usdc, opts)
			if mutate != nil {
				mutate(authPayload(t, p))
			}
			return f.request(req, p, f.usdc)
		}
	}
	// tx wraps a transaction signed by txKey with a signedMessage by msgKey.
	tx := func(tok config.Token, txd types.TxData, chainID *big.Int, msgKey bool) func(t *testing.T) *chains.Request {
		return func(t *testing.T) *chains.Request {
			req := f.requirements(tok)
			mk := f.payer
			if msgKey {
				mk = f.other
			}
			return f.request(req, f.txPayload(t, req, txd, chainID, f.payer, mk), tok)
		}
	}
	rawTx := func(raw string) func(t *testing.T) *chains.Request {
		return func(t *testing.T) *chains.Request {
			req := f.requirements(f.native)
			msg, err := SignResource(f.payer, req.Resource)
			if err != nil {
				t.Fatal(err)
			}
			p := envelope(req, &h402.EVMSignedTransactionPayload{Type: h402.TypeSignedTransaction, SignedTransaction: raw, SignedMessage: msg})
			return f.request(req, p, f.native)
		}
	}
	sendAndSign := func(hash, msg string) func(t *testing.T) *chains.Request {
		return func(t *testing.T) *chains.Request {
			req := f.requirements(f.usdc)
			if msg == "" {
				var err error
				if msg, err = SignResource(f.payer, req.Resource); err != nil {
					t.Fatal(err)
				}
			}
			p := envelope(req, &h402.EVMSignAndSendPayload{Type: h402.TypeSignAndSendTransaction, TransactionHash: hash, SignedMessage: msg})
			return f.request(req, p, f.usdc)
		}
	}
	native := func(to common.Address, value *big.Int, data []byte, gas uint64) *types.DynamicFeeTx {
		return dynTx(to, value, data, gas)
	}
	erc20 := func(data []byte) *types.DynamicFeeTx { return dynTx(plain, new(big.Int), data, 60000) }

	cases := []struct {
		name  string
		build func(t *testing.T) *chains.Request
		want  h402.Reason
	}{
		// EIP-3009 authorization.
		{"auth wrong recipient", auth(AuthorizationOptions{}, func(a *h402.EVMAuthorizationPayload) { a.Authorization.To = lower(stranger) }), h402.ReasonEVMRecipientMismatch},
		{"auth value too low", auth(AuthorizationOptions{Value: big.NewInt(9_999)}, nil), h402.ReasonEVMValue},
		{"auth value too high without AllowOverpay", auth(AuthorizationOptions{Value: big.NewInt(10_001)}, nil), h402.ReasonEVMValue},
		{"auth value not a number", auth(AuthorizationOptions{}, func(a *h402.EVMAuthorizationPayload) { a.Authorization.Value = h402.Decimal{Text: "1e4"} }), h402.ReasonEVMValue},
		{"auth expired", auth(AuthorizationOptions{ValidAfter: f.now.Add(-time.Minute), ValidBefore: f.now.Add(-time.Second)}, nil), h402.ReasonEVMValidBefore},
		{"auth not yet valid", auth(AuthorizationOptions{ValidAfter: f.now.Add(10 * time.Second)}, nil), h402.ReasonEVMValidAfter},
		{"auth validBefore within margin", auth(AuthorizationOptions{ValidBefore: f.now.Add(5 * time.Second)}, nil), h402.ReasonEVMValidBefore},
		{"auth validity too long", auth(AuthorizationOptions{ValidAfter: f.now.Add(-time.Minute), ValidBefore: f.now.Add(time.Hour + 2*time.Second)}, nil), h402.ReasonValidityTooLong},
		{"auth validAfter 0 and validity too long", auth(AuthorizationOptions{ValidAfter: time.Unix(0, 0), ValidBefore: f.now.Add(2 * time.Hour)}, nil), h402.ReasonValidityTooLong},
		{"auth validBefore beyond 2^63", auth(AuthorizationOptions{}, func(a *h402.EVMAuthorizationPayload) {
			a.Authorization.ValidBefore = h402.Decimal{Text: "99999999999999999999999"}
		}), h402.ReasonValidityTooLong},
		{"auth malformed nonce", auth(AuthorizationOptions{}, func(a *h402.EVMAuthorizationPayload) { a.Authorization.Nonce = "0x1234" }), h402.ReasonInvalidPayload},
		{"auth malformed from", auth(AuthorizationOptions{}, func(a *h402.EVMAuthorizationPayload) { a.Authorization.From = "0xnothex" }), h402.ReasonInvalidPayload},
		{"auth short signature", auth(AuthorizationOptions{}, func(a *h402.EVMAuthorizationPayload) { a.Signature = a.Signature[:len(a.Signature)-2] }), h402.ReasonEVMSignature},
		{"auth v=29", auth(AuthorizationOptions{}, func(a *h402.EVMAuthorizationPayload) { a.Signature = setSigByte(a.Signature, 64, 29) }), h402.ReasonEVMSignature},
		{"auth high-s twin", auth(AuthorizationOptions{}, func(a *h402.EVMAuthorizationPayload) { a.Signature = highS(t, a.Signature) }), h402.ReasonEVMSignature},
		{"auth zero r", auth(AuthorizationOptions{}, func(a *h402.EVMAuthorizationPayload) {
			a.Signature = "0x" + common.Bytes2Hex(make([]byte, 32)) + a.Signature[66:]
		}), h402.ReasonEVMSignature},
		{"auth wrong signer", func(t *testing.T) *chains.Request {
			req := f.requirements(f.usdc)
			p := f.authorization(t, f.other, req, f.usdc, AuthorizationOptions{})
			authPayload(t, p).Authorization.From = lower(f.payerAddr)
			return f.request(req, p, f.usdc)
		}, h402.ReasonEVMSignature},
		{"auth tampered value after signing", auth(AuthorizationOptions{Value: big.NewInt(1)}, func(a *h402.EVMAuthorizationPayload) {
			a.Authorization.Value = h402.NewDecimal(testAmount)
		}), h402.ReasonEVMSignature},
		{"auth signed under another domain name", func(t *testing.T) *chains.Request {
			req := f.requirements(f.usdc)
			fake := f.usdc
			fake.EIP712Name = "USDC"
			return f.request(req, f.authorization(t, f.payer, req, fake, AuthorizationOptions{}), f.usdc)
		}, h402.ReasonEVMSignature},
		{"auth requirement extra.name disagrees with config", func(t *testing.T) *chains.Request {
			req := f.requirements(f.usdc)
			req.Extra = []byte(`{"name":"USDC","version":"2"}`)
			return f.request(req, f.authorization(t, f.payer, req, f.usdc, AuthorizationOptions{}), f.usdc)
		}, h402.ReasonInvalidPaymentRequirements},
		{"auth authorization.version disagrees with config", auth(AuthorizationOptions{}, func(a *h402.EVMAuthorizationPayload) { a.Authorization.Version = "1" }), h402.ReasonEVMSignature},
		{"auth token without EIP-712 domain configured", func(t *testing.T) *chains.Request {
			req := f.requirements(f.usdc)
			p := f.authorization(t, f.payer, req, f.usdc, AuthorizationOptions{})
			bare := f.usdc
			bare.EIP712Name = ""
			return f.request(req, p, bare)
		}, h402.ReasonTokenNotSupported},
		{"auth for an erc20 token", func(t *testing.T) *chains.Request {
			req := f.requirements(f.plain)
			signAs := f.plain
			signAs.EIP712Name, signAs.EIP712Version = "Dai", "1"
			return f.request(req, f.authorization(t, f.payer, req, signAs, AuthorizationOptions{}), f.plain)
		}, h402.ReasonTokenNotSupported},

		// signedTransaction.
		{"tx chain id mismatch", tx(f.native, &types.DynamicFeeTx{ChainID: big.NewInt(1), Gas: 21000, To: &f.payTo, Value: testAmount,
			GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(2e9)}, big.NewInt(1), false), h402.ReasonEVMChainID},
		{"tx unprotected legacy", tx(f.native, &types.LegacyTx{Gas: 21000, GasPrice: big.NewInt(1e9), To: &f.payTo, Value: testAmount}, nil, false), h402.ReasonEVMChainID},
		{"tx legacy for another chain", tx(f.native, &types.LegacyTx{Gas: 21000, GasPrice: big.NewInt(1e9), To: &f.payTo, Value: testAmount}, big.NewInt(8453), false), h402.ReasonEVMChainID},
		{"tx native wrong recipient", tx(f.native, native(stranger, testAmount, nil, 21000), chain, false), h402.ReasonEVMRecipientMismatch},
		{"tx native wrong value", tx(f.native, native(f.payTo, big.NewInt(9_999), nil, 21000), chain, false), h402.ReasonEVMValue},
		{"tx native with data", tx(f.native, native(f.payTo, testAmount, []byte{0xde, 0xad}, 30000), chain, false), h402.ReasonEVMTransaction},
		{"tx gas below intrinsic", tx(f.native, native(f.payTo, testAmount, nil, 20999), chain, false), h402.ReasonEVMTransaction},
		{"tx contract creation", tx(f.native, &types.DynamicFeeTx{ChainID: chain, Gas: 90000, Value: testAmount,
			GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(2e9)}, chain, false), h402.ReasonEVMTransaction},
		{"tx erc20 wrong recipient", tx(f.plain, erc20(TransferCalldata(stranger, testAmount)), chain, false), h402.ReasonEVMRecipientMismatch},
		{"tx erc20 wrong amount", tx(f.plain, erc20(TransferCalldata(f.payTo, big.NewInt(10_001))), chain, false), h402.ReasonEVMValue},
		{"tx erc20 extra bytes", tx(f.plain, erc20(append(TransferCalldata(f.payTo, testAmount), 0)), chain, false), h402.ReasonEVMTransaction},
		{"tx erc20 short call data", tx(f.plain, erc20(TransferCalldata(f.payTo, testAmount)[:67]), chain, false), h402.ReasonEVMTransaction},
		{"tx erc20 dirty address word", tx(f.plain, erc20(func() []byte {
			d := TransferCalldata(f.payTo, testAmount)
			d[4] = 1
			return d
		}()), chain, false), h402.ReasonEVMTransaction},
		{"tx erc20 approve instead of transfer", tx(f.plain, erc20(func() []byte {
			d := TransferCalldata(f.payTo, testAmount)
			copy(d, []byte{0x09, 0x5e, 0xa7, 0xb3})
			return d
		}()), chain, false), h402.ReasonEVMTransaction},
		{"tx erc20 to another contract", tx(f.plain, dynTx(usdc, new(big.Int), TransferCalldata(f.payTo, testAmount), 60000), chain, false), h402.ReasonEVMTransaction},
		{"tx erc20 also sends coin", tx(f.plain, dynTx(plain, big.NewInt(1), TransferCalldata(f.payTo, testAmount), 60000), chain, false), h402.ReasonEVMTransaction},
		{"tx signedMessage by another key", tx(f.native, native(f.payTo, testAmount, nil, 21000), chain, true), h402.ReasonEVMSignedMessage},
		{"tx blob type", tx(f.native, &types.BlobTx{ChainID: uint256.NewInt(testChainID), Gas: 21000, To: f.payTo, Value: uint256.MustFromBig(testAmount),
			GasTipCap: uint256.NewInt(1e9), GasFeeCap: uint256.NewInt(2e9), BlobFeeCap: uint256.NewInt(1), BlobHashes: []common.Hash{{1}}}, chain, false), h402.ReasonEVMTransaction},
		{"tx set-code type", tx(f.native, &types.SetCodeTx{ChainID: uint256.NewInt(testChainID), Gas: 21000, To: f.payTo, Value: uint256.MustFromBig(testAmount),
			GasTipCap: uint256.NewInt(1e9), GasFeeCap: uint256.NewInt(2e9), AuthList: []types.SetCodeAuthorization{{}}}, chain, false), h402.ReasonEVMTransaction},
		{"tx not hex", rawTx("0xzz"), h402.ReasonEVMTransaction},
		{"tx garbage rlp", rawTx("0xf8ff0102"), h402.ReasonEVMTransaction},
		{"tx empty", rawTx(""), h402.ReasonEVMTransaction},

		// signAndSendTransaction.
		{"sendAndSign malformed hash", sendAndSign("0x1234", ""), h402.ReasonInvalidPayload},
		{"sendAndSign short signedMessage", sendAndSign("0x"+common.Bytes2Hex(make([]byte, 32)), "0x1234"), h402.ReasonEVMSignedMessage},

		// Defence against a caller that skipped its checks.
		{"nil request", func(t *testing.T) *chains.Request { return nil }, h402.ReasonInvalidPaymentRequirements},
		{"solana payload variant", func(t *testing.T) *chains.Request {
			req := f.requirements(f.usdc)
			p := envelope(req, &h402.SolanaSignTransactionPayload{Type: h402.TypeSignTransaction, Transaction: "AA=="})
			return f.request(req, p, f.usdc)
		}, h402.ReasonInvalidPayload},
		{"typed nil payload", func(t *testing.T) *chains.Request {
			req := f.requirements(f.usdc)
			return f.request(req, envelope(req, (*h402.EVMAuthorizationPayload)(nil)), f.usdc)
		}, h402.ReasonInvalidPayload},
		{"token not configured", func(t *testing.T) *chains.Request {
			req := f.requirements(f.usdc)
			r := f.request(req, f.authorization(t, f.payer, req, f.usdc, AuthorizationOptions{}), f.usdc)
			r.Token = nil
			return r
		}, h402.ReasonTokenNotSupported},
		{"requirements networkId not a chain id", func(t *testing.T) *chains.Request {
			req := f.requirements(f.usdc)
			p := f.authorization(t, f.payer, req, f.usdc, AuthorizationOptions{})
			req.NetworkID, p.NetworkID = "base", "base"
			r := f.request(req, p, f.usdc)
			r.Network = nil
			return r
		}, h402.ReasonInvalidNetwork},
	}
	v := NewVerifier()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.build(t))
			wantReason(t, err, tc.want)
		})
	}
}
