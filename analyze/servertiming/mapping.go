package servertiming

import (
	"strconv"
	"strings"
	"time"
)

// Unit is a unit for a custom timing header mapped with --timing-header NAME=Header:unit.
// The zero Unit is invalid.
type Unit int

// Units accepted by ParseUnit. UnitEpoch is an absolute time whose unit is inferred from its
// magnitude, as in ParseRequestStart; the others are durations.
const (
	UnitSeconds Unit = iota + 1 // "s"
	UnitMillis                  // "ms"
	UnitMicros                  // "us" or "µs"
	UnitNanos                   // "ns"
	UnitEpoch                   // "epoch"
)

// String returns the name ParseUnit accepts for u ("us" for UnitMicros).
func (u Unit) String() string {
	switch u {
	case UnitSeconds:
		return "s"
	case UnitMillis:
		return "ms"
	case UnitMicros:
		return "us"
	case UnitNanos:
		return "ns"
	case UnitEpoch:
		return "epoch"
	}
	return "Unit(" + strconv.Itoa(int(u)) + ")"
}

// nanos returns nanoseconds per unit for duration units, 0 otherwise.
func (u Unit) nanos() float64 {
	switch u {
	case UnitSeconds:
		return float64(time.Second)
	case UnitMillis:
		return float64(time.Millisecond)
	case UnitMicros:
		return float64(time.Microsecond)
	case UnitNanos:
		return 1
	}
	return 0
}

// ParseUnit parses "s", "ms", "us", "µs" (micro sign or Greek mu), "ns" or "epoch". Errors wrap
// ErrMalformed.
func ParseUnit(s string) (Unit, error) {
	switch s {
	case "s":
		return UnitSeconds, nil
	case "ms":
		return UnitMillis, nil
	case "us", "µs", "μs":
		return UnitMicros, nil
	case "ns":
		return UnitNanos, nil
	case "epoch":
		return UnitEpoch, nil
	}
	return 0, malformed("unknown unit %s (want s, ms, us, ns or epoch)",
		quote([]byte(s)))
}

// ParseDuration parses value (surrounding whitespace ignored) as a decimal number in unit u, which
// must be a duration unit (not UnitEpoch: use ParseRequestStart). Negative, NaN/Inf and values
// beyond 24h are errors wrapping ErrMalformed.
func ParseDuration(value []byte, u Unit) (time.Duration, error) {
	ns := u.nanos()
	if ns == 0 {
		return 0, malformed("unit %v is not a duration unit", u)
	}
	d, e := parseDuration(trimSpace(value), ns)
	if e != numOK {
		return 0, malformed("duration %s (unit %v) %v", quote(value), u, e)
	}
	return d, nil
}

// Components a Mapping may feed.
const (
	ComponentQueue           = "queue"
	ComponentApp             = "app"
	ComponentUpstreamConnect = "upstream_connect"
	ComponentStart           = "start" // absolute receive time; unit epoch
)

// Mapping is one --timing-header flag value: "component=Header-Name:unit", e.g. "queue=X-Queue-Ms:ms";
// unit defaults to ms when omitted; component must be one of "queue", "app", "upstream_connect", "start"
// (start = absolute receive time; its unit must be epoch); header name must be a valid HTTP token.
type Mapping struct {
	Component string
	Header    string
	Unit      Unit
}

// String returns the flag form of m, which ParseMapping accepts.
func (m Mapping) String() string {
	return m.Component + "=" + m.Header + ":" + m.Unit.String()
}

// ParseMapping parses a --timing-header value "component=Header-Name[:unit]". Whitespace around
// each part is ignored; the header name is kept as written (http.Header canonicalises on lookup).
// The unit defaults to ms, except for component "start" where it defaults to (and must be) epoch;
// the other components take a duration unit. Errors wrap ErrMalformed.
func ParseMapping(s string) (Mapping, error) {
	comp, rest, ok := strings.Cut(s, "=")
	if !ok {
		return Mapping{}, malformed("timing header %s: want component=Header-Name[:unit]",
			quote([]byte(s)))
	}
	comp = strings.TrimSpace(comp)
	switch comp {
	case ComponentQueue, ComponentApp, ComponentUpstreamConnect, ComponentStart:
	default:
		return Mapping{}, malformed("timing header %s: unknown component %s (want queue, app, upstream_connect or start)",
			quote([]byte(s)), quote([]byte(comp)))
	}
	header, unitStr, hasUnit := strings.Cut(rest, ":")
	header = strings.TrimSpace(header)
	if !isToken(header) {
		return Mapping{}, malformed("timing header %s: header name %s is not a valid HTTP token",
			quote([]byte(s)), quote([]byte(header)))
	}
	unit := UnitMillis
	if comp == ComponentStart {
		unit = UnitEpoch
	}
	if hasUnit {
		u, err := ParseUnit(strings.TrimSpace(unitStr))
		if err != nil {
			return Mapping{}, malformed("timing header %s: unknown unit %s (want s, ms, us, ns or epoch)",
				quote([]byte(s)), quote([]byte(strings.TrimSpace(unitStr))))
		}
		unit = u
	}
	if comp == ComponentStart && unit != UnitEpoch {
		return Mapping{}, malformed("timing header %s: component start needs unit epoch, not %v",
			quote([]byte(s)), unit)
	}
	if comp != ComponentStart && unit == UnitEpoch {
		return Mapping{}, malformed("timing header %s: unit epoch is only valid for component start",
			quote([]byte(s)))
	}
	return Mapping{Component: comp, Header: header, Unit: unit}, nil
}
