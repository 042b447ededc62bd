package settler

import (
	"testing"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// A client-signed EVM transaction never expires: given up, it is left to an
// operator rather than failed, since it may still land (attack review).
func TestMayLandWithoutUs(t *testing.T) {
	for _, tt := range []struct {
		typ  h402.PayloadType
		want bool
	}{
		{h402.TypeSignedTransaction, true},
		{h402.TypeAuthorization, false},
		{h402.TypeSignTransaction, false},
	} {
		if got := mayLandWithoutUs(&events.PaymentAccepted{Type: tt.typ}); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.typ, got, tt.want)
		}
	}
}
