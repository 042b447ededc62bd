package evm

import (
	"bytes"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/h402/settlement/pkg/h402"
)

func TestDecodeSignature(t *testing.T) {
	f := newFixture(t)
	valid, err := SignResource(f.payer, testResource)
	if err != nil {
		t.Fatalf("SignResource: %v", err)
	}
	raw := common.FromHex(valid)
	cases := []struct {
		name  string
		in    string
		wantV uint8 // 0: want an error
	}{
		{"v 27/28 kept", valid, raw[64]},
		{"v 0/1 normalised", setSigByte(valid, 64, raw[64]-27), raw[64]},
		{"high s", highS(t, valid), 0},
		{"v 2", setSigByte(valid, 64, 2), 0},
		{"no 0x", valid[2:], 0},
		{"66 bytes", valid + "00", 0},
		{"zero s", "0x" + valid[2:66] + common.Bytes2Hex(make([]byte, 32)) + valid[130:], 0},
		{"r equal to n", "0x" + common.Bytes2Hex(secpN[:]) + valid[66:], 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeSignature(tc.in)
			if tc.wantV == 0 {
				wantReason(t, err, h402.ReasonEVMSignature)
				return
			}
			if err != nil {
				t.Fatalf("DecodeSignature: %v", err)
			}
			if got.V != tc.wantV || !bytes.Equal(got.R[:], raw[:32]) || !bytes.Equal(got.S[:], raw[32:64]) {
				t.Errorf("got v=%d r=%x s=%x, want v=%d r=%x s=%x", got.V, got.R, got.S, tc.wantV, raw[:32], raw[32:64])
			}
		})
	}
}
