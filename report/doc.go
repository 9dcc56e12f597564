// Package report writes queuegap's self-contained HTML report: one file,
// charts as inline SVG (drawn with gonum.org/v1/plot), tables as HTML, and
// nothing fetched from anywhere — no script, font, style sheet or image —
// so it opens the same from a mail attachment, a CI artifact or an
// air-gapped laptop.
//
// A Run accumulates one run (or one merged set of files) in bounded memory
// as session.Read hands it results and probe samples: HDR histograms per
// time bucket (the bucket width doubles as the run grows, so at most
// maxBuckets are kept), whole-run HDR histograms per phase, the mean
// attribution components per bucket, a reservoir sample of at most
// MaxPoints requests for the scatter plot, and each probe series thinned
// to at most maxProbePoints by keeping the larger of neighbours (a queue
// spike is never averaged away). Write then draws every Run side by side
// on shared axes, so a before/after pair reads at a glance.
//
// Nothing here reads files or knows their format: cmd/queuegap wires
// session.Read's Final and Probe callbacks to a Run.
package report
