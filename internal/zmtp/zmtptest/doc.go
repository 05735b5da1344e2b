// Package zmtptest encodes raw ZMTP 3.1 bytes (RFC 37/ZMTP) for tests
// that play a hand-driven or hostile peer: greetings, frames and their
// headers, commands, multipart messages and READY property lists.
//
// The encoders are written from the specification, independently of
// package zmtp: this package does not import it, so zmtp's own tests
// can use it and a bug in zmtp's encoder is not copied into the bytes
// that test its decoder. Nothing is validated beyond what is needed to
// build the bytes at all: flags are written as given, so reserved bits,
// long sizes for short bodies and truncated output (by slicing the
// result) are all available for malformed-input tests.
//
// # Lifecycle
//
// Every function is pure and returns a new slice that the caller owns.
//
// # Errors
//
// Functions panic on arguments that cannot be encoded (a mechanism
// over 20 bytes, a command or property name over 255 bytes): these are
// mistakes in the test, not in the code under test.
package zmtptest
