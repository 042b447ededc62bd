package buyer_test

import (
	"fmt"
	"log"
	"math/big"

	"github.com/h402/settlement/pkg/buyer"
)

// A Go client that pays up to 0.01 test USDC per request (1 in total) on
// the dev chain, in whichever dialect the seller speaks.
func Example() {
	key, err := buyer.LoadEVMKey("", "H402_PAYER_KEY") // a key file or the environment, never a flag
	if err != nil {
		log.Fatal(err)
	}
	t, err := buyer.New(buyer.Config{
		EVM: &buyer.EVM{Key: key, RPC: "http://127.0.0.1:8545"},
		Policy: buyer.Policy{Networks: []string{"eip155:84532"}, Budgets: []buyer.Budget{{
			Token: "0x3Ac5318126Ba9e9F9Dc9bA8e9781b3bF568D1f06", MaxPerRequest: big.NewInt(10_000), MaxTotal: big.NewInt(1_000_000)}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := t.Client().Get("http://127.0.0.1:8080/reports/today")
	if err != nil {
		log.Fatal(err) // *buyer.NoAcceptableError, *buyer.LimitError, *buyer.SignError, ...
	}
	defer resp.Body.Close()
	if p := buyer.PaymentOf(resp); p != nil {
		fmt.Println(resp.Status, "paid", p.Amount, "by", p.Payer, "refused:", p.Err)
	}
}
