// Package kubernetes holds queuegap's Kubernetes manifests (a sharded run as an Indexed Job,
// the testbed as a Deployment and Service, a KEDA HTTP add-on example) and the test that
// decodes every one of them strictly with the Kubernetes API types, so a misspelt field fails
// CI instead of being dropped silently by the API server's default (non-strict) decoding.
// See README.md for how to run, collect and merge.
package kubernetes
