package tokensourceotel

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/fintechauth/tokensource"
)

// span records the fetch e reports as a span tokensource.fetch that ends
// now and began e.Duration ago. The event comes after the fetch, so the
// span has no parent.
func (o *Observer) span(e tokensource.Event, p *providerAttrs) {
	end := time.Now()
	outcome := outcomeSuccess
	if e.Err != nil {
		outcome = outcomeFailure
	}
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, p.kv, outcome, keyAttempts.Int(e.Attempts))
	if e.Err != nil {
		if e.Status != 0 {
			attrs = append(attrs, keyStatus.Int(e.Status))
		}
		if e.Code != "" {
			attrs = append(attrs, keyCode.String(e.Code))
		}
		attrs = append(attrs, keyErrType.String(errorType(e)))
	}
	_, span := o.tracer.Start(context.Background(), "tokensource.fetch",
		trace.WithTimestamp(end.Add(-e.Duration)), trace.WithAttributes(attrs...))
	if e.Err != nil {
		span.SetStatus(codes.Error, description(e))
	}
	span.End(trace.WithTimestamp(end))
}

// errorType is the error.type of a failed fetch, as the OpenTelemetry
// conventions have it: the HTTP status, else what ended the wait, else
// "_OTHER".
func errorType(e tokensource.Event) string {
	switch {
	case e.Status != 0:
		return strconv.Itoa(e.Status)
	case errors.Is(e.Err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(e.Err, context.Canceled):
		return "canceled"
	}
	return "_OTHER"
}

// description says why a fetch failed from its status and code only: the
// error's text may come from a source of the user's (RetryTokenSource), and
// x/oauth2's RetrieveError prints the response body.
func description(e tokensource.Event) string {
	d := "tokensource: fetch failed"
	if e.Status != 0 {
		d += ": status " + strconv.Itoa(e.Status)
	} else if t := errorType(e); t != "_OTHER" {
		d += ": " + t
	}
	if e.Code != "" {
		d += ", code " + e.Code
	}
	return d
}
