// Package clienttest holds the end-to-end tests of the public Go client
// (module github.com/banesco-verifier/verifier/client) against the real API,
// a real worker and the bank sandbox. They live in the service's module
// because they need its internal packages; the client's own module stays
// free of them (standard library only).
package clienttest
