package receipts_test

import (
	"context"
	"log"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/receipts"
)

// A seller records each receipt in its bbolt file, in the transaction
// that moves the checkpoint.
func ExampleClient() {
	store, err := receipts.OpenBolt("data/receipts.db")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	nc, err := nats.Connect("nats://127.0.0.1:4222", nats.UserInfo("seller-acme", "secret"),
		nats.CustomInboxPrefix(events.SellerInboxPrefix("seller-acme")))
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	c, err := receipts.New[*bolt.Tx](js, receipts.Config{
		PayTo: "0x1111111111111111111111111111111111111111", Namespace: "evm", Consumer: "seller-acme",
	}, store, func(ctx context.Context, tx *bolt.Tx, r *events.Receipt) error {
		b, err := tx.CreateBucketIfNotExists([]byte("paid"))
		if err != nil {
			return err
		}
		return b.Put([]byte(r.ID), []byte(r.State))
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}
