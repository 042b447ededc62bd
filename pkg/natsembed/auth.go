package natsembed

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// The event log trusts no one by default once users are configured: each
// service connects as its own user (password or nkey) and may publish only
// what it writes. The sets below are also written out as a server config in
// configs/nats-auth.conf for an external cluster; keep both in step
// (TestPermissionsFileMatches checks it).
//
//   - ingest publishes accepted payments and writes the replay guard and
//     payer exposure; it cannot write states, settlements or claims;
//   - settler writes states, dead letters, the operator queue, settlement
//     records, claims, leases and exposure; it cannot publish an accepted
//     payment (an injected event would make the facilitator key pay);
//   - watcher (next issue) writes states, receipts and exposure and may send
//     a payment back (a republished accepted event); it also writes the webhook
//     delivery log and redelivery requests (webhooks.>) and the bucket h402_webhooks;
//   - admin may do anything (stream management, operators).
//
// Every service may use the JetStream API (it creates its streams and
// buckets at start and reads them) and ack deliveries, but no service may
// delete or purge a stream or delete a message: only admin may.

// Service names with a permission set.
const (
	ServiceIngest  = "ingest"
	ServiceSettler = "settler"
	ServiceWatcher = "watcher"
	ServiceAdmin   = "admin"
)

// jsCommon is what every service needs to use JetStream at all.
var jsCommon = []string{"$JS.API.>", "$JS.ACK.>", "$JS.FC.>"}

// jsDenied are JetStream API calls only admin may make.
var jsDenied = []string{"$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.>", "$JS.API.STREAM.MSG.DELETE.>"}

// servicePublish is each service's publish allow-list besides jsCommon.
var servicePublish = map[string][]string{
	ServiceIngest: {"payments.accepted.>", "$KV.h402_replay.>", "$KV.h402_used.>", "$KV.h402_exposure.>"},
	ServiceSettler: {"payments.state.>", "payments.dead.>", "payments.review.>", "settlements.>",
		"$KV.h402_claims.>", "$KV.h402_leases.>", "$KV.h402_exposure.>"},
	ServiceWatcher: {"payments.state.>", "payments.accepted.>", "payments.dead.>", "payments.review.>", "receipts.>",
		"settlements.final.>", "$KV.h402_exposure.>", "$KV.h402_claims.>",
		// Webhook delivery (pkg/webhooks): the delivery log and redelivery
		// requests, and the endpoints/disabled bucket.
		"webhooks.>", "$KV.h402_webhooks.>"},
}

// serviceDenied is what a service may never publish, whatever else allows it.
var serviceDenied = map[string][]string{
	ServiceIngest:  {"payments.state.>", "payments.dead.>", "payments.review.>", "settlements.>", "receipts.>", "$KV.h402_claims.>", "$KV.h402_leases.>"},
	ServiceSettler: {"payments.accepted.>", "receipts.>", "$KV.h402_replay.>", "$KV.h402_used.>"},
	ServiceWatcher: {"$KV.h402_replay.>", "$KV.h402_used.>", "$KV.h402_leases.>"},
}

// Services lists the services with a permission set.
func Services() []string {
	return []string{ServiceIngest, ServiceSettler, ServiceWatcher, ServiceAdmin}
}

// ServicePermissions returns a service's permissions, or an error for an
// unknown service. Admin gets nil: everything.
func ServicePermissions(service string) (*server.Permissions, error) {
	if service == ServiceAdmin {
		return nil, nil
	}
	pub, ok := servicePublish[service]
	if !ok {
		return nil, fmt.Errorf("natsembed: unknown service %q (want one of %s)", service, strings.Join(Services(), ", "))
	}
	return &server.Permissions{
		Publish: &server.SubjectPermission{
			Allow: slices.Concat(pub, jsCommon),
			Deny:  slices.Concat(serviceDenied[service], jsDenied),
		},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>", "payments.>", "settlements.>", "receipts.>"}},
	}, nil
}

// User is one client identity of the embedded server.
type User struct {
	// Name and Password authenticate with user/password; Password may be a
	// bcrypt hash ($2a$...). Leave both empty to use NKey.
	Name     string
	Password string
	// NKey is a user's public nkey (U...), an alternative to Name/Password.
	NKey string
	// Service selects the permission set (ServicePermissions).
	Service string
	// Seller, when set, makes this a seller's user reading its own
	// receipts (SellerPermissions) instead of a service.
	Seller *Seller
}

// applyUsers turns users into server options; none leaves the server open
// (loopback development only: config.Validate keeps it on loopback).
func applyUsers(opts *server.Options, users []User) error {
	for i, u := range users {
		perms, err := ServicePermissions(u.Service)
		if u.Seller != nil {
			perms, err = SellerPermissions(*u.Seller)
		}
		if err != nil {
			return fmt.Errorf("user %d: %w", i, err)
		}
		switch {
		case u.NKey != "":
			opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: u.NKey, Permissions: perms})
		case u.Name != "" && u.Password != "":
			opts.Users = append(opts.Users, &server.User{Username: u.Name, Password: u.Password, Permissions: perms})
		default:
			return fmt.Errorf("user %d (%s): needs a name and password, or an nkey", i, u.Service)
		}
	}
	return nil
}

// ConfFile renders the permission sets as a nats-server authorization
// block for an external cluster, with passwords taken from environment
// variables H402_NATS_<SERVICE>_PASSWORD.
func ConfFile() string {
	var b strings.Builder
	b.WriteString("# Generated from pkg/natsembed (auth.go): per-service permissions of the h402 event log.\n")
	b.WriteString("# Include it in each nats-server's config; passwords come from the environment.\n")
	b.WriteString("authorization {\n  users: [\n")
	for _, s := range Services() {
		fmt.Fprintf(&b, "    { user: %q, password: $H402_NATS_%s_PASSWORD", "h402-"+s, strings.ToUpper(s))
		perms, _ := ServicePermissions(s)
		if perms != nil {
			b.WriteString(",\n      permissions: {\n")
			fmt.Fprintf(&b, "        publish: { allow: %s, deny: %s }\n", list(perms.Publish.Allow), list(perms.Publish.Deny))
			fmt.Fprintf(&b, "        subscribe: { allow: %s }\n", list(perms.Subscribe.Allow))
			b.WriteString("      }\n    }\n")
		} else {
			b.WriteString(" }\n")
		}
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}

func list(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
