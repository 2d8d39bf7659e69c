package main

import (
	"flag"
	"strings"
)

// commands are the commands with their arguments and what they do, as help
// lists them.
var commands = []struct{ name, args, about string }{
	{"fliqa", "-base-url URL -env sandbox|production -tenant SLUG [-raw] [-v]",
		"credentials from FLIQA_API_KEY and FLIQA_API_SECRET"},
	{"flinks", "[-base-url URL] [-scope S] [-code C -redirect-url U] [-raw] [-v]",
		"credentials from FLINKS_CLIENT_ID and FLINKS_CLIENT_SECRET; with -code\n" +
			"it exchanges an authorization code, else with FLINKS_REFRESH_TOKEN it\n" +
			"refreshes, else it uses the client_credentials grant"},
	{"client-credentials", "-token-url URL [-raw] [-v]", "credentials from OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET"},
	{"demo", "", "the library's story against local fakes: no account, no network"},
	{"serve", "[-addr 127.0.0.1:8080] [-fail-status S [-fail-count N] [-retry-after V]] [-delay D]",
		"serves the three fakes, for integration tests in any language, and\nlogs each token request on stderr; the flags script failures (the\n" +
			"next N token requests to each fake answer S, with the provider's\nerror body) and a delay before every answer"},
	{"help", "[COMMAND]", "this help, or a command's with its flags"},
}

// usage follows the message of a usage error, on stderr.
var usage = func() string {
	var b strings.Builder
	b.WriteString("usage:\n")
	for _, c := range commands {
		b.WriteString("  " + synopsis(c.name, c.args) + "\n")
	}
	return b.String()
}()

// synopsis is how to call a command.
func synopsis(name, args string) string { return strings.TrimSpace("fetchtoken " + name + " " + args) }

// help is what fetchtoken -h and fetchtoken help print.
func help() helpText {
	var b strings.Builder
	b.WriteString("fetchtoken fetches an access token from a fintech token endpoint and prints\n" +
		"it on stdout: as JSON, or with -raw as the access token alone. Secrets come\n" +
		"from the environment, never from flags.\n\nusage:\n")
	for _, c := range commands {
		b.WriteString("  " + synopsis(c.name, c.args) + "\n")
		b.WriteString("      " + strings.ReplaceAll(c.about, "\n", "\n      ") + "\n")
	}
	b.WriteString("\nExit status: 0 with a token, 1 when the provider or the network failed\n" +
		"(one line on stderr; -v reports each retry before it), 2 for a missing or\n" +
		"wrong flag or variable (no request is sent).\n")
	return helpText(b.String())
}

// commandHelp is what fetchtoken COMMAND -h prints: how to call the
// command of fs, what it does, and its flags.
func commandHelp(fs *flag.FlagSet) helpText {
	name := strings.TrimPrefix(fs.Name(), "fetchtoken ")
	var b strings.Builder
	for _, c := range commands {
		if c.name == name {
			b.WriteString("usage: " + synopsis(c.name, c.args) + "\n\n" + c.about + "\n")
		}
	}
	var flags strings.Builder
	fs.SetOutput(&flags)
	fs.PrintDefaults()
	if flags.Len() > 0 {
		b.WriteString("\nflags:\n" + flags.String())
	}
	return helpText(b.String())
}
