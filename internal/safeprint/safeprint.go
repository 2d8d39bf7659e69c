// Package safeprint prints the library's config structs for fmt and
// log/slog without their secrets.
package safeprint

import (
	"fmt"
	"iter"
	"log/slog"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/fintechauth/tokensource/internal/wire"
)

// Format prints a config struct for %v, %+v and %#v with the named
// secret fields redacted.
func Format(v any, goSyntax bool, secrets ...string) string {
	var b strings.Builder
	if goSyntax {
		b.WriteString(reflect.TypeOf(v).String())
	}
	b.WriteByte('{')
	sep := ""
	for name, val := range fields(v, secrets) {
		b.WriteString(sep)
		sep = ", "
		if goSyntax {
			fmt.Fprintf(&b, "%s:%#v", name, val)
		} else {
			fmt.Fprintf(&b, "%s:%v", name, val)
		}
	}
	b.WriteByte('}')
	return b.String()
}

// LogValue is a config struct as a log/slog group, with the named secret
// fields redacted. Fields that a handler cannot print (a client, a hook)
// appear as their type when set.
func LogValue(v any, secrets ...string) slog.Value {
	var attrs []slog.Attr
	for name, val := range fields(v, secrets) {
		rv := reflect.ValueOf(val)
		switch rv.Kind() {
		case reflect.Invalid: // a nil interface, such as an unset Store
		case reflect.String, reflect.Int64, reflect.Map:
			attrs = append(attrs, slog.Any(name, val))
		default:
			if !rv.IsZero() {
				attrs = append(attrs, slog.String(name, rv.Type().String()))
			}
		}
	}
	return slog.GroupValue(attrs...)
}

// fields yields the fields of a config struct, with the named secret
// fields redacted when set, and the password and query of any URL field
// (see wire.RedactURL).
func fields(v any, secrets []string) iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		rv := reflect.ValueOf(v)
		for i := range rv.NumField() {
			name, val := rv.Type().Field(i).Name, rv.Field(i).Interface()
			if s, ok := val.(string); ok && s != "" {
				if slices.Contains(secrets, name) {
					val = "[redacted]"
				} else if u, err := url.Parse(s); strings.HasSuffix(name, "URL") && err == nil {
					val = wire.RedactURL(u)
				}
			}
			if !yield(name, val) {
				return
			}
		}
	}
}
