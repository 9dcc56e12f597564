// Package profiles turns traffic as users describe it — a YAML profile of
// one or more concurrent clients, each with its stages, weighted request
// mix, connection settings and retry behaviours, or a replay of logged
// arrivals — into loadgen values a run plan is built from.
//
// A profile is decoded from a yaml.Node tree walked by hand rather than
// unmarshalled into structs, so every error carries the file, line and
// column of the offending value and its field path
// ("partner.yaml:12:17: clients[1].requests[0].weight: must be > 0"), and
// unknown keys are errors that list the allowed ones. Validation is
// complete before anything runs: Parse either returns a profile that
// Validate accepts, or every problem it found.
//
// The package knows nothing of sessions or flags: it returns Client values
// (a schedule, a loadgen.ClientConfig, a Retry and an in-flight bound), and
// Overrides/Apply is how the command line's flags win over the profile.
// Shipped profiles, embedded in the binary, reproduce patterns from field
// reports; see Shipped. Package accesslog, beside this one, reads access
// logs into the traces a replay client sends.
package profiles
