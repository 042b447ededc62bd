package webhooks

import (
	"testing"
	"time"
)

func FuzzDecodeEndpoint(f *testing.F) {
	f.Add([]byte(`{"id":"shop-1","url":"https://example.com/hook","sellers":["0xabc"],"secrets":[{"secret":"` + vecSecret + `"}]}`))
	f.Add([]byte(`{"id":"x","url":"http://a","sellers":[],"secrets":[{"secretEnv":"X"}]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEndpoint(b)
		if err == nil {
			if err := e.Check(false); err != nil {
				t.Fatalf("decoded endpoint fails Check: %v", err)
			}
		}
	})
}

func FuzzDecodeLogRecord(f *testing.F) {
	f.Add([]byte(`{"receiptId":"evm.84532.a","endpoint":"e","attempt":1,"status":200,"latencyMs":1.5,"at":"2026-01-01T00:00:00Z","outcome":"delivered"}`))
	f.Add([]byte(`{"outcome":"nope"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeLogRecord(b)
	})
}

func FuzzDecodeRedeliverRequest(f *testing.F) {
	f.Add([]byte(`{"receiptId":"evm.84532.a"}`))
	f.Add([]byte(`{"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := DecodeRedeliverRequest(b)
		if err == nil && q.ReceiptID == "" && !q.From.Before(q.To) {
			t.Fatalf("accepted an empty range: %+v", q)
		}
		_, _ = decodeRedeliver(b)
	})
}

func FuzzVerify(f *testing.F) {
	f.Add(vecID, "1614265330", []byte(vecBody), vecSig)
	f.Add("x", "-1", []byte{}, "v1, v1,,,")
	s, _ := ParseSecret(vecSecret)
	f.Fuzz(func(t *testing.T, id, ts string, body []byte, header string) {
		_, _ = Verify([]Secret{s}, id, ts, body, header, time.Unix(1614265330, 0), time.Minute)
	})
}
