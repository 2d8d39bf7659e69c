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
// now and began e.Duration ago. The event comes after the fetch: the span
// is a child of the span in e.Context, the call that started the fetch (a
// background renewal's has none: it starts a trace of its own); each call
// that joined the fetch links to it, and it to them.
func (o *Observer) span(e tokensource.Event, p *providerAttrs) {
	end := time.Now()
	outcome := outcomeSuccess
	if e.Err != nil {
		outcome = outcomeFailure
	}
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs, p.kv, outcome, keyAttempts.Int(e.Attempts))
	if e.Identity != "" {
		attrs = append(attrs, keyIdentity.String(clean(e.Identity)))
	}
	if e.Err != nil {
		if e.Status != 0 {
			attrs = append(attrs, keyStatus.Int(e.Status))
		}
		if e.Code != "" {
			attrs = append(attrs, keyCode.String(clean(e.Code)))
		}
		attrs = append(attrs, keyErrType.String(errorType(e)))
	}
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	opts := []trace.SpanStartOption{trace.WithTimestamp(end.Add(-e.Duration)), trace.WithAttributes(attrs...)}
	var joined []trace.Span
	for _, c := range e.Joined {
		if s := trace.SpanFromContext(c); s.SpanContext().IsValid() {
			joined = append(joined, s)
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: s.SpanContext()}))
		}
	}
	_, span := o.tracer.Start(ctx, "tokensource.fetch", opts...)
	if e.Err != nil {
		span.SetStatus(codes.Error, description(e))
	}
	span.End(trace.WithTimestamp(end))
	for _, s := range joined {
		s.AddLink(trace.Link{SpanContext: span.SpanContext()})
	}
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
// x/oauth2's RetrieveError prints the response body. The code is the
// provider's text: the description is cleaned and bounded as it is.
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
	return clean(d)
}
