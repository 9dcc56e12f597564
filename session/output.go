package session

import (
	"os"
	"time"

	"github.com/queuegap/queuegap/analyze"
)

// Output receives a run as it happens. Start is called once before the
// first result, Add for every result as it completes (one call at a time,
// from the goroutine that finished the request: keep it cheap; the Result
// is reused afterwards), and Close once at the end with the final run info.
// The attribution an Output sees live is provisional: it uses the run-wide
// estimates known so far (see FinalOutput).
type Output interface {
	Start(info *analyze.RunInfo) error
	Add(res *analyze.Result) error
	Close(info *analyze.RunInfo) error
}

// FinalOutput is an Output that also wants every result again after the
// run, attributed against the final run-wide estimates — what the summary
// and `analyze` report. Final is called once per result, after Close.
type FinalOutput interface {
	Output
	Final(res *analyze.Result)
}

// ProbeOutput is an Output that also takes the run's probe samples
// (Plan.Probes), each once, in time order per probe, between Start and
// Close; calls never overlap with Add.
type ProbeOutput interface {
	Output
	Probe(s *analyze.ProbeSample) error
}

// resultsOutput is the JSON Lines results file.
type resultsOutput struct {
	path string
	f    *os.File
	w    *analyze.ResultsWriter
}

func (o *resultsOutput) Start(info *analyze.RunInfo) error {
	w, err := analyze.NewResultsWriter(o.f, *info, analyze.ResultsOptions{})
	if err != nil {
		return err
	}
	o.w = w
	return nil
}

func (o *resultsOutput) Add(res *analyze.Result) error { return o.w.Write(res) }

func (o *resultsOutput) Close(info *analyze.RunInfo) error {
	var err error
	if o.w != nil {
		err = o.w.Close(*info)
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// hdrOutput is the HDR interval log.
type hdrOutput struct {
	f *os.File
	w *analyze.HDRLogWriter
}

func (o *hdrOutput) Start(info *analyze.RunInfo) error {
	w, err := analyze.NewHDRLogWriter(o.f, info.Start, time.Second)
	if err != nil {
		return err
	}
	o.w = w
	return nil
}

func (o *hdrOutput) Add(res *analyze.Result) error {
	o.w.Add(res)
	return nil
}

func (o *hdrOutput) Close(*analyze.RunInfo) error {
	var err error
	if o.w != nil {
		err = o.w.Close()
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	return err
}
