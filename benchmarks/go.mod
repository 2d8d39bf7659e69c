module github.com/fintechauth/tokensource/benchmarks

go 1.26.0

require (
	cloud.google.com/go/auth v0.24.4
	github.com/fintechauth/tokensource v0.0.0-20261127102339-0397d7656bbe
	golang.org/x/oauth2 v0.37.0
)

require (
	cloud.google.com/go/compute/metadata v0.10.0 // indirect
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/googleapis/gax-go/v2 v2.27.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

