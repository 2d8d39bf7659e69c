// Package benchmarks measures tokensource beside the best peer, Google's
// cached token provider with its asynchronous refresh
// (cloud.google.com/go/auth), and beside x/oauth2, in one run. It is a
// module of its own, so that the core module's users never get that
// dependency; it holds benchmarks only:
//
//	cd benchmarks
//	go test -run '^$' -bench Rollover -benchtime 1x -count 3 .
//	go test -run '^$' -bench Hit -count 5 .
package benchmarks
