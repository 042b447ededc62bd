package loadgen

import "testing"

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8402", true},
		{"http://127.9.9.9:1", true},
		{"http://localhost:8402", true},
		{"http://[::1]:8402", true},
		{"http://10.0.0.5:8402", false},
		{"http://192.168.1.2", false},
		{"http://example.com", false},
		{"http://8.8.8.8", false},
		{"::not a url", false},
	}
	for _, tt := range tests {
		if err := CheckLoopback(tt.url); (err == nil) != tt.ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}
