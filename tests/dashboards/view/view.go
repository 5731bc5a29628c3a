// Package view opens the offline dashboards (deploy/prometheus/view, served
// by Prometheus at /user/view/) in headless Chromium, through the DevTools
// protocol (chromedp): it reports each panel's state and every console
// error, and takes screenshots of whole dashboards and of single panels.
package view

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
)

// Panel is what the page shows for one panel.
type Panel struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	State  string `json:"state"` // ok, empty, error
	Series int    `json:"series"`
	Msg    string `json:"msg"`
}

// Browser is one headless Chromium.
type Browser struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// Chromium finds Debian's chromium (or Google's build) on PATH.
func Chromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium on PATH (Debian: apt-get install chromium; `make dashboards-png` installs it)")
}

// Start launches Chromium with a window of width x height CSS pixels.
func Start(ctx context.Context, width, height int) (*Browser, error) {
	path, err := Chromium()
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests and CI run as root
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	return &Browser{ctx: bctx, cancel: func() { cancelBrowser(); cancelAlloc() }}, nil
}

// Close ends Chromium.
func (b *Browser) Close() { b.cancel() }

// Page is one dashboard opened in a tab.
type Page struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	errors []string
}

// DashboardURL is the offline view's address for one dashboard of the
// Prometheus at base (http://127.0.0.1:9090), over the last rangeSeconds.
func DashboardURL(base, uid string, rangeSeconds int) string {
	return fmt.Sprintf("%s/user/view/?d=%s&range=%d", strings.TrimSuffix(base, "/"), url.QueryEscape(uid), rangeSeconds)
}

// Open loads u in a new tab and waits, at most timeout, until every panel
// has been drawn once.
func (b *Browser) Open(u string, timeout time.Duration) (*Page, error) {
	tctx, cancel := chromedp.NewContext(b.ctx)
	p := &Page{ctx: tctx, cancel: cancel, done: make(chan struct{})}
	// Console errors, uncaught exceptions and error entries of the browser
	// log (a failed load, a refused request) all count as the page's errors.
	messages := chromedp.Console(tctx)
	go func() {
		defer close(p.done)
		for m, err := range messages {
			if err != nil {
				return
			}
			// The browser logs each request that Chromium aborted because a
			// network interface changed (Docker adds and removes them all the
			// time on a shared machine); the page retries those, and a panel
			// it could not fill shows up in its state instead.
			if m.Source == "network" && strings.Contains(m.Text, "ERR_NETWORK_CHANGED") {
				continue
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				p.addError(m.String() + " " + m.URL)
			}
		}
	}()
	err := chromedp.Do(tctx, chromedp.Navigate(u))
	if err == nil {
		_, err = chromedp.Run(tctx, chromedp.Poll[bool](`document.body.dataset.state !== "loading"`,
			chromedp.WithPollingTimeout(timeout)))
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("open %s: %w", u, err)
	}
	if state, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.body.dataset.state`)); err != nil || state != "ready" {
		p.addError(fmt.Sprintf("page state %q, not ready (%v)", state, err))
	}
	return p, nil
}

func (p *Page) addError(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errors = append(p.errors, s)
}

// Errors is every console error, exception and failed load seen so far.
func (p *Page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errors...)
}

// Panels reports what each panel shows.
func (p *Page) Panels() ([]Panel, error) {
	return chromedp.Run(p.ctx, chromedp.Evaluate[[]Panel](`[...document.querySelectorAll(".panel")].map(p => ({
		id: p.id, title: p.querySelector("h3").textContent, state: p.dataset.state,
		series: +(p.dataset.series || 0), msg: p.querySelector(".msg").textContent}))`))
}

// Screenshot is a PNG of the whole page.
func (p *Page) Screenshot() ([]byte, error) {
	return chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
}

// PanelScreenshot is a PNG of one panel (an id from Panels).
func (p *Page) PanelScreenshot(id string) ([]byte, error) {
	return chromedp.Run(p.ctx, chromedp.Screenshot(chromedp.ID(id)))
}

// Close closes the tab.
func (p *Page) Close() {
	p.cancel()
	<-p.done
}
