package soldev

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/gagliardetto/solana-go"
)

// Manifest is what the localnet server prints as its first line of output
// (and writes to --manifest FILE): where it listens and the genesis state.
// The secret keys are well-known LOCAL DEVELOPMENT keys.
type Manifest struct {
	RPCURL               string        `json:"rpcUrl"`
	SlotPeriodMs         int64         `json:"slotPeriodMs"`
	Warning              string        `json:"warning"`
	GenesisHash          solana.Hash   `json:"genesisHash"`
	BlockhashExpirySlots uint64        `json:"blockhashExpirySlots"`
	FinalityDepthSlots   uint64        `json:"finalityDepthSlots"`
	Mints                Mints         `json:"mints"`
	MintAuthority        Keypair       `json:"mintAuthority"`
	Payers               []TokenHolder `json:"payers"`
	Seller               TokenHolder   `json:"seller"`
	FeePayers            []Keypair     `json:"feePayers"`
	Faucet               struct {
		PublicKey solana.PublicKey `json:"publicKey"`
	} `json:"faucet"`
}

// Mints are the two genesis mints.
type Mints struct {
	USDC      Mint `json:"usdc"`      // USDC-like mint of the SPL Token program
	Token2022 Mint `json:"token2022"` // mint of the Token-2022 program
}

// Mint is a token mint and the program that owns it.
type Mint struct {
	Address      solana.PublicKey `json:"address"`
	TokenProgram solana.PublicKey `json:"tokenProgram"`
	Decimals     uint8            `json:"decimals"`
	Symbol       string           `json:"symbol"`
}

// Keypair is a manifest key: the secret key is base58 (64 bytes: seed and
// public key), checked against the public key when decoded.
type Keypair struct {
	PublicKey  solana.PublicKey
	PrivateKey solana.PrivateKey
}

// TokenHolder is a keypair with its associated token accounts on both mints.
type TokenHolder struct {
	Keypair
	TokenAccounts struct {
		USDC      solana.PublicKey `json:"usdc"`
		Token2022 solana.PublicKey `json:"token2022"`
	} `json:"tokenAccounts"`
}

// UnmarshalJSON decodes {"publicKey","secretKey"} and insists they match.
func (k *Keypair) UnmarshalJSON(b []byte) error {
	var raw struct {
		PublicKey solana.PublicKey `json:"publicKey"`
		SecretKey string           `json:"secretKey"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	priv, err := solana.PrivateKeyFromBase58(raw.SecretKey)
	if err != nil {
		return fmt.Errorf("secret key of %s: %w", raw.PublicKey, err)
	}
	if len(priv) != 64 {
		return fmt.Errorf("secret key of %s: %d bytes, want 64", raw.PublicKey, len(priv))
	}
	if !priv.PublicKey().Equals(raw.PublicKey) {
		return fmt.Errorf("secret key does not belong to public key %s", raw.PublicKey)
	}
	k.PublicKey, k.PrivateKey = raw.PublicKey, priv
	return nil
}

// UnmarshalJSON decodes a TokenHolder (the embedded Keypair would otherwise
// swallow the whole object).
func (h *TokenHolder) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &h.Keypair); err != nil {
		return err
	}
	var raw struct {
		TokenAccounts json.RawMessage `json:"tokenAccounts"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if len(raw.TokenAccounts) == 0 {
		return errors.New("tokenAccounts missing")
	}
	return json.Unmarshal(raw.TokenAccounts, &h.TokenAccounts)
}

// ParseManifest decodes and checks a manifest line.
func ParseManifest(line []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(bytes.TrimSpace(line), &m); err != nil {
		return nil, fmt.Errorf("decode localnet manifest: %w", err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("localnet manifest: %w", err)
	}
	return &m, nil
}

func (m *Manifest) check() error {
	u, err := url.Parse(m.RPCURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("rpcUrl: want an http URL (got %q)", m.RPCURL)
	}
	if m.BlockhashExpirySlots == 0 || m.FinalityDepthSlots == 0 {
		return fmt.Errorf("blockhashExpirySlots and finalityDepthSlots must be positive (got %d, %d)", m.BlockhashExpirySlots, m.FinalityDepthSlots)
	}
	for name, mint := range map[string]Mint{"usdc": m.Mints.USDC, "token2022": m.Mints.Token2022} {
		if mint.Address.IsZero() || mint.TokenProgram.IsZero() {
			return fmt.Errorf("mints.%s: address and tokenProgram are required", name)
		}
	}
	if m.MintAuthority.PrivateKey == nil || m.Seller.PrivateKey == nil {
		return errors.New("mintAuthority and seller keypairs are required")
	}
	return nil
}

// ATA returns owner's associated token account for the mint.
func (m Mint) ATA(owner solana.PublicKey) (solana.PublicKey, error) {
	return AssociatedTokenAddress(owner, m.Address, m.TokenProgram)
}

// AssociatedTokenAddress derives the associated token account of owner for
// mint under tokenProgram (SPL Token or Token-2022).
func AssociatedTokenAddress(owner, mint, tokenProgram solana.PublicKey) (solana.PublicKey, error) {
	addr, _, err := solana.FindProgramAddress(
		[][]byte{owner[:], tokenProgram[:], mint[:]},
		solana.SPLAssociatedTokenAccountProgramID,
	)
	if err != nil {
		return solana.PublicKey{}, fmt.Errorf("associated token address of %s for mint %s: %w", owner, mint, err)
	}
	return addr, nil
}
