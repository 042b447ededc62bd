package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	closed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	closedURL := closed.URL
	closed.Close()

	for _, tc := range []struct {
		name string
		args []string
		want int
		msg  string
	}{
		{"healthy", []string{ok.URL}, 0, ""},
		{"all must answer", []string{ok.URL, bad.URL}, 1, "status 503"},
		{"nothing listens", []string{closedURL}, 1, "connection refused"},
		{"no URL", nil, 2, "usage"},
		{"not http", []string{"ftp://x/"}, 1, "bad URL"},
		{"bad flag", []string{"-nope"}, 2, "not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			if got := run(tc.args, &stderr); got != tc.want {
				t.Fatalf("exit %d, want %d (stderr %q)", got, tc.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tc.msg)
			}
		})
	}
}
