package main

import "github.com/spf13/pflag"
import "github.com/queuegap/queuegap/session"

// profilePlan: TEMPORARY until the profiles package lands.
func (o *runOptions) profilePlan(fs *pflag.FlagSet, url string) (session.Plan, error) {
	return session.Plan{}, usagef("--profile: not yet")
}
