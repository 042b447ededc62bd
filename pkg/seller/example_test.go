package seller_test

import (
	"fmt"
	"log"
	"net/http"

	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/seller"
)

// A seller charging 0.01 USDC on Base Sepolia for its reports, with the
// facilitator (ingest) at 127.0.0.1:8402. The README shows the same code.
func Example() {
	mw, err := seller.New(seller.Config{
		FacilitatorURL: "http://127.0.0.1:8402",
		Routes: []seller.Route{{
			Pattern: "GET /reports/*", Description: "a report", MimeType: "application/json",
			Offers: []seller.Offer{{
				Namespace: h402.NamespaceEVM, NetworkID: "84532", // x402: base-sepolia, eip155:84532
				Token: seller.Token{Address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", Decimals: 6,
					Symbol: "USDC", EIP712Name: "USDC", EIP712Version: "2"},
				PayTo: "0x00000000000000000000000000000000000000aa", Price: "0.01",
			}},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /reports/{id}", func(w http.ResponseWriter, r *http.Request) {
		pay, _ := seller.PaymentFrom(r.Context()) // verified; settled before this answer is sent
		fmt.Fprintf(w, `{"report":%q,"payer":%q}`, r.PathValue("id"), pay.Payer)
	})
	_ = http.ListenAndServe("127.0.0.1:8080", mw.Wrap(mux))
}
