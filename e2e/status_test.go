package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// chromiumPath finds a Chromium to drive (H402_CHROMIUM, else Debian's
// chromium on PATH). Without one the test fails under CI (scripts/deps.sh
// installs it) and is skipped elsewhere, saying how to install it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("H402_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH (Debian: apt-get install -y chromium, as scripts/deps.sh does; or set H402_CHROMIUM)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// artifactsDir is where tests keep files for people to look at:
// $H402_ARTIFACTS, else artifacts/ at the module root (ignored by git).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("H402_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// browser starts a headless Chromium for the test and returns a context
// whose actions run in one tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	var out strings.Builder
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.WindowSize(1400, 1000),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(&out),
	)...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		if t.Failed() && out.Len() > 0 {
			t.Logf("chromium output:\n%s", tail(out.String(), 4000))
		}
	})
	// The first action starts the browser and must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return ctx
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// shown is what the status page shows, read in the browser from its DOM.
type shown struct {
	Title  string                       `json:"title"`
	States map[string]map[string]string `json:"states"`  // network → state → count
	Sums   map[string]int               `json:"sums"`    // network → finalized summed over the minutes
	Seller map[string]map[string]string `json:"sellers"` // payTo network → column → value
	Links  []string                     `json:"links"`   // receipt links, newest first
	Bars   int                          `json:"bars"`
	Fonts  int                          `json:"fonts"` // web fonts loaded (none)
}

const readPage = `(() => {
  const text = (e) => e.textContent.trim();
  const states = {};
  for (const tr of document.querySelectorAll('#states tr[data-network]')) {
    const row = {};
    for (const td of tr.querySelectorAll('[data-state]')) row[td.dataset.state] = text(td);
    states[tr.dataset.network] = row;
  }
  const sums = {};
  for (const tr of document.querySelectorAll('#per-minute tr[data-kind="finalized"]')) {
    sums[tr.dataset.network] = [...tr.querySelectorAll('td.n')].reduce((a, td) => a + Number(text(td)), 0);
  }
  const sellers = {};
  for (const tr of document.querySelectorAll('#sellers tr[data-payto]')) {
    const row = {};
    for (const td of tr.querySelectorAll('[data-col]')) row[td.dataset.col] = text(td);
    sellers[tr.dataset.payto + ' ' + tr.dataset.network] = row;
  }
  return {
    title: document.title,
    states, sums, sellers,
    links: [...document.querySelectorAll('#receipts a.receipt')].map(a => a.getAttribute('href')),
    bars: document.querySelectorAll('#throughput rect').length,
    fonts: [...document.fonts].filter(f => f.status === 'loaded').length,
  };
})()`

// load opens url in the tab and reads the page.
func load(t *testing.T, ctx context.Context, url string) shown {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, chromedp.Navigate(url)); err != nil {
		t.Fatalf("chromium: open %s: %v", url, err)
	}
	s, err := chromedp.Run(c, chromedp.Evaluate[shown](readPage))
	if err != nil {
		t.Fatalf("chromium: read %s: %v", url, err)
	}
	return s
}

// TestStatusPageInChromium pays on both chains through the real processes
// and reads the watcher's status page in headless Chromium while they run:
// the payments by state and network, the sellers' totals and the receipt
// links (one is followed to its JSON); a screenshot is kept as an artifact.
func TestStatusPageInChromium(t *testing.T) {
	ctx := browser(t)
	p := startPipelineWith(t, pipelineOptions{solana: true, blockPeriod: time.Second})
	rw := p.watchReceipts(t)
	w := p.startWatcher(t, "watcher-status", filepath.Join(t.TempDir(), "ledger.db"))
	base := "http://" + w.admin

	// Before any payment: the page is there and says so ("/" sends to it).
	empty := load(t, ctx, base+"/")
	if len(empty.States) != 0 || len(empty.Links) != 0 {
		t.Fatalf("the page of an empty ledger shows %+v", empty)
	}

	const nEVM, nSol = 4, 3
	seller := freshAddress()
	evmBodies, evmAmounts := p.evmAuthorizations(t, nEVM, seller, 1_000)
	solBodies, solAmounts := p.solanaPayments(t, nSol, 2_000)
	all := append(p.settleAll(t, 2, evmBodies, evmAmounts, h402.NamespaceEVM),
		p.settleAll(t, 2, solBodies, solAmounts, h402.NamespaceSolana)...)
	evmNet := "evm." + p.cfg.Networks[0].NetworkID
	solNet := "solana." + p.solNetwork().NetworkID

	// Accepted but not settled (no settler yet): every payment is on the
	// page, in some state, under its network.
	eventually(t, 30*time.Second, "the page shows every accepted payment", func() (bool, string) {
		s := load(t, ctx, base+"/status")
		return s.States[evmNet]["total"] == strconv.Itoa(nEVM) && s.States[solNet]["total"] == strconv.Itoa(nSol), fmt.Sprint(s.States)
	})

	p.startSettler(t)
	var ids []string
	for _, x := range all {
		ids = append(ids, x.id)
	}
	rw.wait(t, ids, 3*time.Minute)

	// The ledger follows the streams: the page catches up with the receipts.
	var s shown
	eventually(t, 30*time.Second, "the page shows every payment finalized", func() (bool, string) {
		s = load(t, ctx, base+"/status")
		return s.States[evmNet]["finalized"] == strconv.Itoa(nEVM) && s.States[solNet]["finalized"] == strconv.Itoa(nSol) &&
			len(s.Links) == nEVM+nSol, fmt.Sprintf("states %v, %d receipt links", s.States, len(s.Links))
	})
	if got := s.States["all"]; got["total"] != strconv.Itoa(nEVM+nSol) || got["failed"] != "0" || got["accepted"] != "0" {
		t.Errorf("all networks: %v, want %d finalized, none failed or pending", got, nEVM+nSol)
	}
	if s.Sums[evmNet] != nEVM || s.Sums[solNet] != nSol {
		t.Errorf("finalized per minute sums to %v, want %s: %d, %s: %d", s.Sums, evmNet, nEVM, solNet, nSol)
	}
	if s.Bars == 0 {
		t.Errorf("the throughput chart has no bars")
	}
	if s.Fonts != 0 || !strings.HasSuffix(s.Title, " status") {
		t.Errorf("title %q, %d web fonts loaded; want the status title and none", s.Title, s.Fonts)
	}
	sum := func(xs []int64) string {
		var n int64
		for _, x := range xs {
			n += x
		}
		return strconv.FormatInt(n, 10)
	}
	for key, want := range map[string]map[string]string{
		strings.ToLower(seller.Hex()) + " " + evmNet: {"settled": sum(evmAmounts), "settledCount": strconv.Itoa(nEVM), "pendingCount": "0", "failedCount": "0"},
		p.sol.Seller().String() + " " + solNet:       {"settled": sum(solAmounts), "settledCount": strconv.Itoa(nSol), "pendingCount": "0", "failedCount": "0"},
	} {
		got := s.Seller[key]
		for col, v := range want {
			if got[col] != v {
				t.Errorf("seller %s: %s is %q, want %s (row %v)", key, col, got[col], v, got)
			}
		}
	}

	shot := filepath.Join(artifactsDir(t), "status.png")
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("status page screenshot (%d bytes): %s", len(png), shot)

	// A receipt link, clicked, shows that payment's receipt as JSON.
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, chromedp.Click(chromedp.CSS(`#receipts a.receipt`))); err != nil {
		t.Fatalf("click the newest receipt: %v", err)
	}
	var body string
	eventually(t, 10*time.Second, "the receipt's JSON in the browser", func() (bool, string) {
		loc, err := chromedp.Run(c, chromedp.Location())
		if err != nil || !strings.HasSuffix(loc, s.Links[0]) {
			return false, fmt.Sprintf("at %s (%v)", loc, err)
		}
		body, err = chromedp.Run(c, chromedp.Evaluate[string](`document.body.innerText`))
		return err == nil && strings.HasPrefix(body, "{"), body
	})
	var v struct {
		Payment struct {
			ID    string       `json:"id"`
			State events.State `json:"state"`
		} `json:"payment"`
		Receipt *events.Receipt `json:"receipt"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Receipt == nil {
		t.Fatalf("the receipt link shows %s (%v), want the payment with its receipt", body, err)
	}
	wantID := strings.TrimPrefix(s.Links[0], "/ledger/payments/")
	if v.Receipt.ID != wantID || v.Payment.ID != wantID || v.Receipt.State != events.StateFinalized || v.Receipt.TxHash == "" || v.Receipt.SellerSeq == 0 {
		t.Errorf("the receipt link of %s shows payment %s, receipt %+v; want its finalized receipt", wantID, v.Payment.ID, v.Receipt)
	}
	if len(rw.of(wantID)) != 1 {
		t.Errorf("the payment the page links to has %d receipts on the stream, want 1", len(rw.of(wantID)))
	}
}
