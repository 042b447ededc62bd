package natsembed

import (
	"fmt"
	"strings"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/h402/settlement/pkg/h402"
)

// Subjects and names of pkg/events, written out here because pkg/events'
// own tests start this server (an import would be a cycle);
// TestSellerPermissions checks them against pkg/events and pkg/receipts.
const (
	streamReceipts = "RECEIPTS"
	rootReceipts   = "receipts"
)

// sellerInboxPrefix is events.SellerInboxPrefix.
func sellerInboxPrefix(consumer string) string { return "_INBOX_" + consumer }

// checkToken is events' subject token rule: [A-Za-z0-9_-]+.
func checkToken(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%s %q has character %q outside [A-Za-z0-9_-]", what, s, c)
		}
	}
	return nil
}

// Seller is what a seller's NATS user may read: its own receipts, through
// one durable consumer on RECEIPTS whose name the operator assigns (unique
// per seller, e.g. seller-<name>). pkg/receipts is the client.
type Seller struct {
	// PayTo is the seller's address (EVM addresses are lowercased in subjects).
	PayTo string
	// Namespace of PayTo: evm or solana.
	Namespace h402.Namespace
	// Consumer is the durable consumer's name (one subject token).
	Consumer string
}

// SellerPermissions returns a seller user's permissions: it may create
// (or update) its consumer only through the filtered create subject with a
// filter under its own receipts.<payTo>.<ns>.> (the server refuses a body
// whose filter differs from the subject's), read it (info, next), send it
// back (reset, which the client uses at start and to refill a gap), ack
// its deliveries, subscribe to its own inbox prefix
// (events.SellerInboxPrefix) and to its own receipt subjects. Nothing
// else: no stream info or direct get (those take any subject in the
// request body), no other consumer, no publish on receipts.>.
func SellerPermissions(s Seller) (*server.Permissions, error) {
	payTo := s.PayTo
	switch s.Namespace {
	case h402.NamespaceEVM:
		payTo = strings.ToLower(payTo)
	case h402.NamespaceSolana:
	default:
		return nil, fmt.Errorf("natsembed: seller %s: namespace: want evm or solana (got %q)", s.PayTo, s.Namespace)
	}
	if err := checkToken("payTo", payTo); err != nil {
		return nil, fmt.Errorf("natsembed: seller: %w", err)
	}
	if err := checkToken("consumer name", s.Consumer); err != nil {
		return nil, fmt.Errorf("natsembed: seller %s: %w", s.PayTo, err)
	}
	// events.ReceiptsOfSeller
	own := rootReceipts + "." + payTo + "." + string(s.Namespace) + ".>"
	stream, c := streamReceipts, s.Consumer
	return &server.Permissions{
		Publish: &server.SubjectPermission{
			Allow: []string{
				"$JS.API.CONSUMER.CREATE." + stream + "." + c + "." + own,
				"$JS.API.CONSUMER.INFO." + stream + "." + c,
				"$JS.API.CONSUMER.MSG.NEXT." + stream + "." + c,
				"$JS.API.CONSUMER.RESET." + stream + "." + c,
				"$JS.ACK." + stream + "." + c + ".>",
			},
			Deny: []string{"receipts.>", "$JS.API.STREAM.>", "$JS.API.DIRECT.>"},
		},
		Subscribe: &server.SubjectPermission{
			Allow: []string{sellerInboxPrefix(c) + ".>", own},
		},
	}, nil
}

// SellerConf renders one seller user for the users list of a nats-server
// authorization block (configs/nats-auth.conf), its password taken from
// the environment variable passwordEnv.
func SellerConf(user, passwordEnv string, s Seller) (string, error) {
	perms, err := SellerPermissions(s)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "    { user: %q, password: $%s,\n      permissions: {\n", user, passwordEnv)
	fmt.Fprintf(&b, "        publish: { allow: %s, deny: %s }\n", list(perms.Publish.Allow), list(perms.Publish.Deny))
	fmt.Fprintf(&b, "        subscribe: { allow: %s }\n", list(perms.Subscribe.Allow))
	b.WriteString("      }\n    }\n")
	return b.String(), nil
}
