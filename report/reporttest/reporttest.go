// Package reporttest checks a generated HTML report the way a reader
// sees it: self-contained (nothing that could be fetched), and, in
// headless Chromium driven by chromedp, loaded with every chart drawn. It
// is for tests (report's, cmd/queuegap's, the testbed's end-to-end ones);
// no queuegap command imports it.
package reporttest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// external finds what could make a browser (or a reader's mail client)
// fetch something: a scheme-relative or absolute URL anywhere, any src=,
// href=, url( or @import, and the elements that load things.
var external = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`(?i)[a-z][a-z0-9+.-]*://`), "a URL"},
	{regexp.MustCompile(`(?i)["'(=\s]//[a-z0-9]`), "a scheme-relative URL"},
	{regexp.MustCompile(`(?i)\b(src|href|xlink:href|srcset|action|poster|data)\s*=`), "an attribute that loads something"},
	{regexp.MustCompile(`(?i)url\s*\(`), "a CSS url()"},
	{regexp.MustCompile(`(?i)@import`), "a CSS @import"},
	{regexp.MustCompile(`(?i)<\s*(script|link|iframe|object|embed|img|image|use|base|meta\s+http-equiv)\b`), "an element that loads something"},
}

// CheckSelfContained says what in page could be fetched from anywhere, or
// nil. The report writes no namespace URIs and escapes "://" in data (a
// target URL in a table), so even the SVG namespace would be a finding.
func CheckSelfContained(page []byte) error {
	for _, e := range external {
		if loc := e.re.FindIndex(page); loc != nil {
			lo, hi := max(loc[0]-40, 0), min(loc[1]+40, len(page))
			return fmt.Errorf("the report holds %s at byte %d: %q", e.what, loc[0], page[lo:hi])
		}
	}
	return nil
}

// Chart is what Chromium drew of one <svg>.
type Chart struct {
	Width, Height float64 // its box on the page, CSS px
	Marks         int     // path/rect/polyline/polygon/circle elements with a non-empty box
	Coloured      int     // of those, ones in a colour other than black, white or grid grey: data
	Texts         int     // text elements (axis labels, ticks)
}

// Page is what the browser saw.
type Page struct {
	Title     string
	Charts    []Chart
	Resources int    // resources the page fetched (performance entries): 0 when self-contained
	PNG       []byte // a full-page screenshot
}

const probe = `(() => {
  const plain = new Set(["#000000", "#ffffff", "#e6e6e6", "none", ""]);
  const colourOf = e => ((e.getAttribute("style") || "").match(/(?:fill|stroke):(#[0-9a-fA-F]{6})/g) || [])
    .map(s => s.split(":")[1].toLowerCase()).filter(c => !plain.has(c));
  const charts = [...document.querySelectorAll("svg")].map(s => {
    const r = s.getBoundingClientRect();
    let marks = 0, coloured = 0;
    for (const e of s.querySelectorAll("path,rect,polyline,polygon,circle,line")) {
      const b = e.getBoundingClientRect();
      if (b.width <= 0 && b.height <= 0) continue;
      marks++;
      if (colourOf(e).length > 0) coloured++;
    }
    return {Width: r.width, Height: r.height, Marks: marks, Coloured: coloured, Texts: s.querySelectorAll("text").length};
  });
  return {Title: document.title, Charts: charts, Resources: performance.getEntriesByType("resource").length};
})()`

// Chromium returns the browser to use, or "" when there is none. The
// caller decides whether that skips (see Open).
func Chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Open loads the report at path in headless Chromium, waits for it to
// load, measures every chart and takes a full-page screenshot width CSS
// px wide. Without Chromium the test is skipped, or fails when
// QG_REQUIRE_TESTBED=1 (as `make check` sets: CI must not go green
// without the browser check).
func Open(t testing.TB, path string, width int) Page {
	t.Helper()
	exe := Chromium()
	if exe == "" {
		if os.Getenv("QG_REQUIRE_TESTBED") == "1" {
			t.Fatal("QG_REQUIRE_TESTBED=1: no chromium on PATH (apt-get install chromium)")
		}
		t.Skip("no chromium on PATH (apt-get install chromium)")
	}
	pg, err := open(exe, path, width)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return pg
}

func open(exe, path string, width int) (Page, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Page{}, err
	}
	u := url.URL{Scheme: "file", Path: abs}
	// Bounded: a report loads in well under a second; the rest is
	// Chromium's start on a busy machine.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // root in a container has no user namespaces for the sandbox
		chromedp.DisableGPU,
		chromedp.WindowSize(width, 900), // chromedp makes (and removes) its own profile directory
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate(u.String()), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
		return Page{}, fmt.Errorf("loading %s: %w", u.String(), err)
	}
	pg, err := chromedp.Run(bctx, chromedp.Evaluate[Page](probe))
	if err != nil {
		return Page{}, fmt.Errorf("measuring the charts: %w", err)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		return Page{}, fmt.Errorf("screenshot: %w", err)
	}
	pg.PNG = png
	if len(pg.Charts) == 0 {
		return pg, errors.New("the page has no <svg> at all")
	}
	return pg, nil
}

// CheckDrawn says which charts Chromium drew empty, or nil: every <svg>
// must have a visible box, axis text and at least one coloured mark (a
// line, an area, a dot).
func (pg Page) CheckDrawn() error {
	for i, c := range pg.Charts {
		if c.Width < 100 || c.Height < 50 || c.Texts == 0 || c.Coloured == 0 {
			return fmt.Errorf("chart %d of %d is not drawn: %+v", i+1, len(pg.Charts), c)
		}
	}
	return nil
}

// SaveScreenshot writes the screenshot to dir/name, and also to the path
// in $QG_SCREENSHOT when that is set (how docs/report.png is made).
func (pg Page) SaveScreenshot(t testing.TB, dir, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	if err := os.WriteFile(out, pg.PNG, 0o644); err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("QG_SCREENSHOT"); p != "" {
		if err := os.WriteFile(p, pg.PNG, 0o644); err != nil {
			t.Fatalf("QG_SCREENSHOT: %v", err)
		}
		t.Logf("screenshot written to %s", p)
	}
	return out
}
