module github.com/banesco-verifier/verifier/client

// Standard library only, and old enough for apps that are not on the
// newest Go.
go 1.22
