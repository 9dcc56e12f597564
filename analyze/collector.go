package analyze

import (
	"github.com/queuegap/queuegap/loadgen"
)

// Collector is the loadgen.Sink of a run: it analyzes each Record into a
// Result, aggregates it, and passes it to any further result sinks (the
// results file, HDR log, metrics). It runs on loadgen's single sink
// goroutine, so nothing here needs locking.
type Collector struct {
	Analyzer   *Analyzer
	Aggregator *Aggregator
	Sinks      []func(*Result)
	res        Result
}

// Record implements loadgen.Sink.
func (c *Collector) Record(rec *loadgen.Record) {
	c.Analyzer.Analyze(rec, &c.res)
	c.Aggregator.Add(&c.res)
	for _, s := range c.Sinks {
		s(&c.res)
	}
}
