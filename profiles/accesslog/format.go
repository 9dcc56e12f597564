package accesslog

import (
	"fmt"
	"strings"
)

// Kind is the family of an access-log format.
type Kind uint8

// The supported log families.
const (
	// NginxCombined is nginx's predefined "combined" format, optionally
	// followed by extra space-separated fields (see Extra).
	NginxCombined Kind = iota + 1
	// NginxJSON is one JSON object per line (e.g. log_format ... escape=json).
	NginxJSON
	// ALB is the AWS Application Load Balancer access-log format.
	ALB
)

// Extra is a field logged after "$http_user_agent" in a combined log.
type Extra uint8

// The extra fields a combined log may carry, in any order.
const (
	// ExtraRequestTime is $request_time: seconds with ms resolution.
	ExtraRequestTime Extra = iota + 1
	// ExtraUpstreamResponseTime is $upstream_response_time: seconds, "-", or a
	// list ("0.010, 0.020 : 0.005") when several upstreams were tried.
	ExtraUpstreamResponseTime
	// ExtraMsec is $msec: epoch seconds with a ms fraction, at the response end.
	ExtraMsec
	// ExtraSkip is any other single field (quoted or not) that is read and ignored.
	ExtraSkip
)

var extraNames = map[Extra]string{
	ExtraRequestTime:          "request_time",
	ExtraUpstreamResponseTime: "upstream_response_time",
	ExtraMsec:                 "msec",
	ExtraSkip:                 "skip",
}

// Format says how to read a log. Make one with ParseFormat.
type Format struct {
	Kind Kind
	// Extras are the fields after the user agent, in log order (NginxCombined only).
	Extras []Extra
}

// ParseFormat reads a format spec:
//
//	combined[+FIELD]...   nginx combined, then FIELDs in the order logged
//	json                  nginx JSON lines (alias nginx-json)
//	alb                   AWS ALB access logs (alias aws-alb)
//
// FIELD is request_time, upstream_response_time, msec or skip (one ignored
// field); a leading "$" is allowed so names can be pasted from a log_format.
// Each named FIELD may appear once; skip may repeat. Examples:
// "combined+request_time", "combined+msec+request_time+upstream_response_time",
// "combined+skip+request_time" (e.g. $http_x_forwarded_for before it).
func ParseFormat(spec string) (Format, error) {
	parts := strings.Split(strings.TrimSpace(spec), "+")
	switch strings.ToLower(parts[0]) {
	case "json", "nginx-json":
		if len(parts) > 1 {
			return Format{}, fmt.Errorf("accesslog: format %q: json takes no +fields (it reads fields by name)", spec)
		}
		return Format{Kind: NginxJSON}, nil
	case "alb", "aws-alb":
		if len(parts) > 1 {
			return Format{}, fmt.Errorf("accesslog: format %q: alb takes no +fields", spec)
		}
		return Format{Kind: ALB}, nil
	case "combined", "nginx-combined":
	default:
		return Format{}, fmt.Errorf("accesslog: unknown format %q (want combined[+field...], json or alb)", spec)
	}
	f := Format{Kind: NginxCombined}
	seen := map[Extra]bool{}
	for _, p := range parts[1:] {
		name := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(p)), "$")
		var x Extra
		for k, v := range extraNames {
			if v == name {
				x = k
			}
		}
		if x == 0 {
			return Format{}, fmt.Errorf("accesslog: format %q: unknown field %q (want request_time, upstream_response_time, msec or skip)", spec, p)
		}
		if seen[x] && x != ExtraSkip {
			return Format{}, fmt.Errorf("accesslog: format %q: field %q given twice", spec, name)
		}
		seen[x] = true
		f.Extras = append(f.Extras, x)
	}
	return f, nil
}

// String returns the spec ParseFormat reads back to f.
func (f Format) String() string {
	switch f.Kind {
	case NginxJSON:
		return "json"
	case ALB:
		return "alb"
	case NginxCombined:
		var b strings.Builder
		b.WriteString("combined")
		for _, x := range f.Extras {
			b.WriteString("+")
			b.WriteString(extraNames[x])
		}
		return b.String()
	}
	return fmt.Sprintf("Format(%d)", f.Kind)
}
