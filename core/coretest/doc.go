// Package coretest helps test code built on zmp's core: peers and
// registries that clean up after the test, waiting for discovery, and
// Network, a fault-injecting dialer that cuts, stalls (partitions) and
// delays the connections peers make.
//
// # Lifecycle
//
// Everything made with a *testing.T is closed by t.Cleanup. A Network
// needs no closing; Heal undoes its faults.
//
// # Errors
//
// Helpers fail the test with t.Fatal instead of returning errors.
package coretest
