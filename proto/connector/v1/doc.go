// Package connectorv1 is the generated Go code of the scimgate connector
// protocol v1 (connector.proto; the rules are in SPEC.md). Regenerate it
// with `make proto`; TestGeneratedCodeIsFresh fails when it is stale. Only
// the gateway's grpc target (targets/grpctarget) and the Go SDK
// (targets/grpctarget/sdk) use these types; connectors written in Go use
// the SDK, connectors in other languages generate their own code from
// connector.proto.
package connectorv1
